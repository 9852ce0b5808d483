"""Reference for happy-llm-mlp: the tutorial's MLP interface, our own code."""

import torch
from torch import nn


class MLP(nn.Module):
    """Position-wise feed-forward network: Linear -> ReLU -> Linear (no biases) -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        hidden = torch.relu(self.w1(x))
        return self.dropout(self.w2(hidden))
