import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """Keyword-only sizes: the tutorial's positional MLP(dim, hidden_dim, dropout) fails."""

    def __init__(self, *, dim: int, hidden_dim: int, dropout: float = 0.0):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.w2(F.relu(self.w1(x))))
