import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """w1 and w2 swapped: w2 is the first layer (dim -> hidden), w1 the second."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.w2 = nn.Linear(dim, hidden_dim, bias=False)
        self.w1 = nn.Linear(hidden_dim, dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.w1(F.relu(self.w2(x))))
