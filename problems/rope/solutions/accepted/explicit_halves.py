# Accepted: explicit two-half formula with slicing, frequencies through exp/log, einsum.
import math

import torch
from torch import nn


def apply_rotary_pos_emb(input, cos, sin):
    h = input.shape[-1] // 2
    x = input.to(torch.float32)
    c = cos.to(torch.float32)[:, None, :]
    s = sin.to(torch.float32)[:, None, :]
    x1 = x[..., :h]
    x2 = x[..., h:]
    first = x1 * c[..., :h] - x2 * s[..., :h]
    second = x2 * c[..., h:] + x1 * s[..., h:]
    return torch.cat((first, second), dim=-1).to(input.dtype)


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim, max_seq_len, base=10000, ratio=1, dynamic=False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.dim, self.max_seq_len, self.base = dim, max_seq_len, base
        self.ratio, self.dynamic = ratio, dynamic
        self.table_dtype, self.table_device = dtype, device
        c, s = self.build(ratio)
        self.register_buffer("cos_table", c, persistent=False)
        self.register_buffer("sin_table", s, persistent=False)

    def build(self, ratio):
        log_base = math.log(self.base) + (self.dim / (self.dim - 2)) * math.log(ratio)
        idx = torch.arange(self.dim // 2, dtype=torch.float32, device=self.table_device)
        inv_freq = torch.exp(idx * (-2.0 * log_base / self.dim))
        pos = torch.arange(self.max_seq_len * ratio, dtype=torch.float32, device=self.table_device)
        ang = torch.einsum("p,f->pf", pos, inv_freq).repeat(1, 2)
        return torch.cos(ang).to(self.table_dtype), torch.sin(ang).to(self.table_dtype)

    def forward(self, input, offset: int = 0):
        stop = offset + input.size(1)
        if stop <= self.cos_table.size(0):
            c, s = self.cos_table, self.sin_table
        else:
            r = math.ceil(stop / self.max_seq_len)
            r = r if r % 2 == 0 else r + 1
            c, s = self.build(r)
            if self.dynamic:
                self.ratio = r
                self.cos_table = c
                self.sin_table = s
        return apply_rotary_pos_emb(input, c[offset:stop], s[offset:stop])
