"""The table filled element by element with math.sin/math.cos (as the chapter's numpy example)."""
import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    def __init__(self, args):
        super().__init__()
        length, d = args.block_size, args.n_embd
        rows = []
        for pos in range(length):
            row = []
            for i in range(d // 2):
                angle = pos / math.pow(10000.0, 2 * i / d)
                row += [math.sin(angle), math.cos(angle)]
            rows.append(row)
        self.register_buffer("pe", torch.tensor(rows, dtype=torch.float32).unsqueeze(0))

    def forward(self, x):
        return x + self.pe[:, : x.size(1), :]
