import math

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    """SiLU written as z * sigmoid(z), the hidden size with math.ceil, F.linear on the weights."""

    def __init__(self, dim: int, hidden_dim: int, multiple_of: int, dropout: float):
        super().__init__()
        if hidden_dim is None:
            hidden_dim = multiple_of * math.ceil(int(8 * dim / 3) / multiple_of)
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)
        self.p = dropout

    def forward(self, x):
        gate = F.linear(x, self.w1.weight)
        up = F.linear(x, self.w3.weight)
        out = F.linear(gate * torch.sigmoid(gate) * up, self.w2.weight)
        return F.dropout(out, self.p, self.training)
