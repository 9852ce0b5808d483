import torch
from torch import nn


class LayerNorm(nn.Module):
    """Statistics in float64, result rounded back to the input's dtype once."""

    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.features = features
        self.eps = eps
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))

    def forward(self, x):
        z = x.double()
        c = z - z.sum(-1, keepdim=True) / self.features
        sd = torch.sqrt((c * c).sum(-1, keepdim=True) / (self.features - 1))
        y = self.a_2.double() * c / (sd + self.eps) + self.b_2.double()
        return y.to(x.dtype)
