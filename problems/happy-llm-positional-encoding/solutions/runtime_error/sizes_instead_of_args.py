import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """The annotated-transformer signature (d_model, dropout, max_len), not the tutorial's args."""

    def __init__(self, d_model, dropout=0.0, max_len=5000):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)
        freq = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * freq)
        pe[:, 1::2] = torch.cos(position * freq)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]
