import torch
from torch import nn


class FeedForward(nn.Module):
    """ReLU written with torch.where; the weights applied through the layers."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        z = self.w1(x)
        return self.dropout(self.w2(torch.where(z > 0, z, torch.zeros_like(z))))
