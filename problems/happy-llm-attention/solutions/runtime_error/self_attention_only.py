import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """forward(x) instead of the tutorial's forward(q, k, v)."""

    def __init__(self, args, is_causal=False):
        super().__init__()
        self.n_heads, self.head_dim = args.n_heads, args.dim // args.n_heads
        self.wq = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wk = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wv = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)
        self.is_causal = is_causal

    def forward(self, x):
        b, s, _ = x.shape
        split = lambda t: t.view(b, s, self.n_heads, self.head_dim).transpose(1, 2)  # noqa: E731
        scores = split(self.wq(x)) @ split(self.wk(x)).transpose(-1, -2) / math.sqrt(self.head_dim)
        if self.is_causal:
            scores = scores.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
        out = scores.softmax(-1) @ split(self.wv(x))
        return self.wo(out.transpose(1, 2).reshape(b, s, -1))
