import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """w1 and w3 applied as one matmul on their concatenated weights, then split."""

    def __init__(self, dim: int, hidden_dim: int, multiple_of: int, dropout: float):
        super().__init__()
        if hidden_dim is None:
            base = int(2 * (4 * dim) / 3)
            hidden_dim = (base + multiple_of - 1) // multiple_of * multiple_of
        self.hidden = hidden_dim
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        both = x @ torch.cat([self.w1.weight, self.w3.weight], dim=0).t()
        gate, up = both.split(self.hidden, dim=-1)
        return self.dropout(self.w2(F.silu(gate) * up))
