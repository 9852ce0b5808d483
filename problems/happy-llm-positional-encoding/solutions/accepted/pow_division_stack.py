import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """float32 angles pos / 10000^(2i/d), interleaved with stack + flatten."""

    def __init__(self, args):
        super().__init__()
        pos = torch.arange(args.block_size, dtype=torch.float32).unsqueeze(1)
        denom = 10000.0 ** (torch.arange(0, args.n_embd, 2, dtype=torch.float32) / args.n_embd)
        angles = pos / denom
        pe = torch.stack([torch.sin(angles), torch.cos(angles)], dim=2).flatten(1)
        self.register_buffer("pe", pe[None])

    def forward(self, x):
        seq_len = x.shape[1]
        return x + self.pe[:, :seq_len].detach()
