import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """F.linear with the layers' weights and clamp_min as the ReLU."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.p = dropout

    def forward(self, x):
        h = F.linear(x, self.w1.weight).clamp_min(0.0)
        return F.dropout(F.linear(h, self.w2.weight), self.p, self.training)
