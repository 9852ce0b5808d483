import torch
from torch import nn


class PositionEncoding(nn.Module):
    def __init__(self, args):
        super().__init__()
        pos = torch.arange(args.block_size, dtype=torch.float32)[:, None]
        w = 10000.0 ** (-torch.arange(0, args.n_embd, 2, dtype=torch.float32) / args.n_embd)
        pe = torch.stack(((pos * w).sin(), (pos * w).cos()), -1).reshape(args.block_size, -1)
        self.register_buffer("pe", pe[None])

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]
