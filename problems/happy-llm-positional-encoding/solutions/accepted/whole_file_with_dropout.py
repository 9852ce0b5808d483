"""A reader's chapter-2 file: exp/log frequencies, a dropout layer on the sum, a self-test."""
import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModelArgs:
    n_embd: int
    n_heads: int
    dim: int
    dropout: float
    max_seq_len: int
    vocab_size: int
    block_size: int
    n_layer: int


class PositionalEncoding(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.dropout = nn.Dropout(p=args.dropout)
        table = torch.zeros(args.block_size, args.n_embd)
        where = torch.arange(args.block_size).float().unsqueeze(1)
        scale = torch.exp(torch.arange(0, args.n_embd, 2).float() * (-math.log(10000.0) / args.n_embd))
        table[:, 0::2] = torch.sin(where * scale)
        table[:, 1::2] = torch.cos(where * scale)
        self.register_buffer("pe", table.unsqueeze(0))

    def forward(self, x):
        return self.dropout(x + self.pe[:, : x.size(1)])


if __name__ == "__main__":
    args = ModelArgs(100, 10, 100, 0.1, 512, 1000, 1000, 2)
    print(PositionalEncoding(args)(torch.zeros(1, 4, 100))[0, :, :4])
