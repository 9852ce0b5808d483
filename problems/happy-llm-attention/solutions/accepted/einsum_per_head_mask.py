import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """einsum over an explicit head axis; a boolean mask buffer and masked_fill."""

    def __init__(self, args, is_causal=False):
        super().__init__()
        self.h = args.n_heads
        self.d = args.dim // args.n_heads
        for name in ("wq", "wk", "wv"):
            setattr(self, name, nn.Linear(args.n_embd, args.dim, bias=False))
        self.wo = nn.Linear(args.dim, args.dim, bias=False)
        self.drop = nn.Dropout(args.dropout)
        self.is_causal = is_causal
        if is_causal:
            allowed = torch.tril(torch.ones(args.max_seq_len, args.max_seq_len, dtype=torch.bool))
            self.register_buffer("allowed", allowed, persistent=False)

    def forward(self, q, k, v):
        b, s, _ = q.shape
        Q = self.wq(q).view(b, s, self.h, self.d)
        K = self.wk(k).view(b, s, self.h, self.d)
        V = self.wv(v).view(b, s, self.h, self.d)
        scores = torch.einsum("bthd,buhd->bhtu", Q, K) / math.sqrt(self.d)
        if self.is_causal:
            scores = scores.masked_fill(~self.allowed[:s, :s], float("-inf"))
        weights = self.drop(scores.softmax(dim=-1))
        out = torch.einsum("bhtu,buhd->bthd", weights, V).reshape(b, s, self.h * self.d)
        return self.wo(out)
