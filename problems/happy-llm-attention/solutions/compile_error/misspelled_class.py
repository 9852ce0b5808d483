import torch
import torch.nn.functional as F
from torch import nn


class MultiheadAttention(nn.Module):
    """torch's scaled_dot_product_attention with its own causal flag."""

    def __init__(self, args, is_causal=False):
        super().__init__()
        self.n_heads = args.n_heads
        self.is_causal = is_causal
        self.p = args.dropout
        self.wq = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wk = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wv = nn.Linear(args.n_embd, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)

    def forward(self, q, k, v):
        b, s, _ = q.shape
        split = lambda t: t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # noqa: E731
        out = F.scaled_dot_product_attention(split(self.wq(q)), split(self.wk(k)), split(self.wv(v)),
                                             dropout_p=self.p if self.training else 0.0,
                                             is_causal=self.is_causal)
        return self.wo(out.transpose(1, 2).flatten(2))
