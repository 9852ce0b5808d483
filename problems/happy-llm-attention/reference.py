"""Reference for happy-llm-attention: the tutorial's MultiHeadAttention interface, our own code."""

import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over n_heads heads, optionally causal, no biases."""

    def __init__(self, args, is_causal=False):
        super().__init__()
        assert args.dim % args.n_heads == 0
        self.n_heads = args.n_heads
        self.head_dim = args.dim // args.n_heads
        self.wq = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wk = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wv = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)
        self.attn_dropout = nn.Dropout(args.dropout)
        self.resid_dropout = nn.Dropout(args.dropout)
        self.is_causal = is_causal

    def _heads(self, t):
        b, s, _ = t.shape
        return t.reshape(b, s, self.n_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, q, k, v):
        b, s, _ = q.shape
        qh, kh, vh = self._heads(self.wq(q)), self._heads(self.wk(k)), self._heads(self.wv(v))
        scores = qh @ kh.transpose(-1, -2) * (1.0 / math.sqrt(self.head_dim))
        if self.is_causal:
            future = torch.ones(s, s, dtype=torch.bool, device=q.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        probs = self.attn_dropout(torch.softmax(scores.float(), dim=-1).to(qh.dtype))
        merged = (probs @ vh).permute(0, 2, 1, 3).reshape(b, s, -1)
        return self.resid_dropout(self.wo(merged))
