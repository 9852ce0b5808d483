"""Accepted: written the way the course's reference is. apply_rotary_pos_emb multiplies in
whatever dtype PyTorch promotes to and never casts back (float32 tables with a bfloat16 input
give a float32 result); the module builds float32 tables from float32 positions, converts the
input to the table dtype, rotates, and converts the result back to the input's dtype."""

import math

import torch
import torch.nn as nn


def _swap_halves(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary_pos_emb(input: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    return input * cos + _swap_halves(input) * sin


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim: int, max_seq_len: int, base: int = 10000, ratio: int = 1,
                 dynamic: bool = False, dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        super().__init__()
        self.dim, self.max_seq_len, self.base = dim, max_seq_len, base
        self.ratio, self.dynamic = ratio, dynamic
        self.table_dtype, self.table_device = dtype, device
        cos, sin = self._tables(ratio)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)

    def _tables(self, ratio: int):
        stretched = float(self.base) * ratio ** (self.dim / (self.dim - 2))
        steps = torch.arange(0, self.dim, 2, device=self.table_device, dtype=self.table_dtype)
        inv_freq = 1.0 / stretched ** (steps / self.dim)
        pos = torch.arange(self.max_seq_len * ratio, device=self.table_device, dtype=self.table_dtype)
        angles = torch.outer(pos, inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos(), angles.sin()

    def forward(self, input: torch.Tensor, offset: int = 0) -> torch.Tensor:
        end = offset + input.shape[1]
        if end > self.cos_cached.shape[0]:
            ratio = math.ceil(end / self.max_seq_len)
            ratio += ratio % 2
            cos, sin = self._tables(ratio)
            if self.dynamic:
                self.ratio = ratio
                self.register_buffer("cos_cached", cos, persistent=False)
                self.register_buffer("sin_cached", sin, persistent=False)
        else:
            cos, sin = self.cos_cached, self.sin_cached
        x = input.to(dtype=self.table_dtype, device=self.table_device)
        out = apply_rotary_pos_emb(input=x, cos=cos[offset:end], sin=sin[offset:end])
        return out.to(dtype=input.dtype, device=input.device)
