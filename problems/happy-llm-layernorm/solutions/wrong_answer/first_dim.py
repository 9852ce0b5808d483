import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(0, keepdim=True)  # statistics over the batch, as batch norm would
        std = x.std(0, keepdim=True)
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2
