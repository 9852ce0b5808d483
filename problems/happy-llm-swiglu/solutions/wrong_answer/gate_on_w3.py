"""A reader's chapter-5 file: a plain config class, RMSNorm, the MLP, a self-test."""
import torch
import torch.nn.functional as F
from torch import nn


class ModelConfig:
    def __init__(self, dim=768, n_layers=12, n_heads=16, n_kv_heads=8, vocab_size=6144,
                 hidden_dim=None, multiple_of=64, norm_eps=1e-5, max_seq_len=512, dropout=0.0):
        self.dim, self.n_layers, self.n_heads, self.n_kv_heads = dim, n_layers, n_heads, n_kv_heads
        self.vocab_size, self.hidden_dim, self.multiple_of = vocab_size, hidden_dim, multiple_of
        self.norm_eps, self.max_seq_len, self.dropout = norm_eps, max_seq_len, dropout


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class MLP(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, multiple_of: int, dropout: float):
        super().__init__()
        if hidden_dim is None:
            hidden_dim = int(2 * 4 * dim / 3)
            if hidden_dim % multiple_of:
                hidden_dim += multiple_of - hidden_dim % multiple_of
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.w2(self.w1(x) * F.silu(self.w3(x))))  # SiLU on the wrong branch


if __name__ == "__main__":
    args = ModelConfig()
    mlp = MLP(args.dim, args.hidden_dim, args.multiple_of, args.dropout)
    print(mlp(torch.randn(1, 50, args.dim)).shape)
