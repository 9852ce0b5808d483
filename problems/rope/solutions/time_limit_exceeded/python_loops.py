# Time limit exceeded: correct, but builds the tables and applies the rotation with Python
# loops over positions and frequency indices.
import math

import torch
import torch.nn as nn


def apply_rotary_pos_emb(input, cos, sin):
    x = input.float()
    c = cos.float()
    s = sin.float()
    seq_len, hd = c.shape
    h = hd // 2
    out = torch.empty_like(x)
    for p in range(seq_len):
        for j in range(h):
            a = x[:, p, :, j]
            b = x[:, p, :, j + h]
            out[:, p, :, j] = a * c[p, j] - b * s[p, j]
            out[:, p, :, j + h] = b * c[p, j + h] + a * s[p, j + h]
    return out.to(input.dtype)


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim, max_seq_len, base=10000, ratio=1, dynamic=False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.dim = dim
        self.max_seq_len = max_seq_len
        self.base = base
        self.ratio = ratio
        self.dynamic = dynamic
        self.tdtype = dtype
        self.tdevice = device
        c, s = self.make_tables(ratio)
        self.register_buffer("c", c, persistent=False)
        self.register_buffer("s", s, persistent=False)

    def make_tables(self, ratio):
        base = self.base * ratio ** (self.dim / (self.dim - 2))
        h = self.dim // 2
        cos_rows, sin_rows = [], []
        for p in range(self.max_seq_len * ratio):
            crow, srow = [], []
            for j in range(h):
                angle = p * base ** (-2.0 * j / self.dim)
                crow.append(math.cos(angle))
                srow.append(math.sin(angle))
            cos_rows.append(crow + crow)
            sin_rows.append(srow + srow)
        c = torch.tensor(cos_rows, dtype=self.tdtype, device=self.tdevice)
        s = torch.tensor(sin_rows, dtype=self.tdtype, device=self.tdevice)
        return c.reshape(-1, self.dim), s.reshape(-1, self.dim)

    def forward(self, input, offset=0):
        end = offset + input.shape[1]
        if end > self.c.shape[0]:
            r = -(-end // self.max_seq_len)
            if r % 2:
                r += 1
            c, s = self.make_tables(r)
            if self.dynamic:
                self.ratio = r
                self.c, self.s = c, s
        else:
            c, s = self.c, self.s
        return apply_rotary_pos_emb(input, c[offset:end], s[offset:end])
