"""Reference for happy-llm-swiglu: the LLaMA chapter's MLP interface, our own code."""

import torch.nn.functional as F
from torch import nn


def _hidden_size(dim: int, multiple_of: int) -> int:
    """Two thirds of 4 * dim (truncated), rounded up to a multiple of multiple_of."""
    h = (8 * dim) // 3
    return -(-h // multiple_of) * multiple_of


class MLP(nn.Module):
    """SwiGLU feed-forward network: w2(silu(w1 x) * w3 x), no biases, dropout on the result."""

    def __init__(self, dim: int, hidden_dim: int, multiple_of: int, dropout: float):
        super().__init__()
        if hidden_dim is None:
            hidden_dim = _hidden_size(dim, multiple_of)
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        gated = F.silu(self.w1(x)) * self.w3(x)
        return self.dropout(self.w2(gated))
