"""A reader's chapter-2 file: heads handled one at a time, an additive -inf mask, a self-test."""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelArgs:
    n_embd: int
    n_heads: int
    dim: int
    dropout: float
    max_seq_len: int
    vocab_size: int
    block_size: int
    n_layer: int


class MultiHeadAttention(nn.Module):
    def __init__(self, args: ModelArgs, is_causal=False):
        super().__init__()
        self.n_heads, self.head_dim = args.n_heads, args.dim // args.n_heads
        self.wq = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wk = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wv = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)
        self.attn_dropout = nn.Dropout(args.dropout)
        self.resid_dropout = nn.Dropout(args.dropout)
        self.is_causal = is_causal
        if is_causal:
            self.register_buffer("mask", torch.full((args.max_seq_len, args.max_seq_len), float("-inf")).triu(1))

    def forward(self, q, k, v):
        seqlen = q.size(1)
        xq, xk, xv = self.wq(q), self.wk(k), self.wv(v)
        heads = []
        for h in range(self.n_heads):
            cols = slice(h * self.head_dim, (h + 1) * self.head_dim)
            s = xq[..., cols] @ xk[..., cols].transpose(-2, -1) / math.sqrt(self.head_dim)
            if self.is_causal:
                s = s + self.mask[:seqlen, :seqlen]
            heads.append(self.attn_dropout(F.softmax(s, dim=-2)) @ xv[..., cols])
        return self.resid_dropout(self.wo(torch.cat(heads, dim=-1)))


if __name__ == "__main__":
    attn = MultiHeadAttention(ModelArgs(100, 10, 100, 0.1, 512, 1000, 1000, 2), is_causal=True)
    x = torch.randn(1, 8, 100)
    print(attn(x, x, x).shape)
