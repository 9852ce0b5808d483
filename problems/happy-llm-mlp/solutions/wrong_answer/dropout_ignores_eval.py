"""A reader's chapter-2 file: nn.ReLU as a module, LayerNorm next to it, a self-test."""
import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        return self.a_2 * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + self.eps) + self.b_2


class MLP(nn.Module):
    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.act = nn.ReLU()
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return nn.functional.dropout(self.w2(self.act(self.w1(x))), self.dropout.p, training=True)


if __name__ == "__main__":
    ffn = MLP(100, 100, 0.1)
    print(ffn(torch.randn(1, 4, 100)).shape)
