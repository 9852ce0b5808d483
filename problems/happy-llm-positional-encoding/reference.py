"""Reference for happy-llm-positional-encoding: the tutorial's interface, our own code."""

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal table (sin on even features, cos on odd ones) to the input."""

    def __init__(self, args):
        super().__init__()
        d = args.n_embd
        pos = torch.arange(args.block_size, dtype=torch.float64)[:, None]
        freq = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
        angle = pos * freq                                   # [block_size, d/2]
        table = torch.stack((angle.sin(), angle.cos()), dim=-1).reshape(args.block_size, d)
        self.register_buffer("pe", table.to(torch.float32).unsqueeze(0))

    def forward(self, x):
        return x + self.pe[:, : x.shape[1]]
