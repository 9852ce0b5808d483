import torch
from torch import nn


class PositionalEncoding(nn.Module):
    def __init__(self, args):
        super().__init__()
        d = args.n_embd
        pos = torch.arange(args.block_size, dtype=torch.float32)[:, None]
        i = torch.arange(d // 2, dtype=torch.float32)
        angles = pos / 10000.0 ** (i / d)  # exponent i/d instead of 2i/d
        pe = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(args.block_size, d)
        self.register_buffer("pe", pe[None])

    def forward(self, x):
        return x + self.pe[:, : x.shape[1]]
