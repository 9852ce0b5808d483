"""Reference solution for `rope` (instructor only; never enters a student's sandbox)."""

import torch
import torch.nn as nn


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary_pos_emb(input: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate [b, s, nh, hd] by the [s, hd] angle tables; float32 math, result in input.dtype."""
    x = input.to(torch.float32)
    c = cos.to(device=input.device, dtype=torch.float32)[None, :, None, :]
    s = sin.to(device=input.device, dtype=torch.float32)[None, :, None, :]
    out = x * c + _rotate_half(x) * s
    return out.to(input.dtype)


class NTKAwareRoPE(nn.Module):
    def __init__(
        self,
        dim: int,
        max_seq_len: int,
        base: int = 10000,
        ratio: int = 1,
        dynamic: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.dim = dim
        self.max_seq_len = max_seq_len
        self.base = base
        self.ratio = ratio
        self.dynamic = dynamic
        self.table_dtype = dtype
        self.table_device = torch.device(device)
        cos, sin = self._tables(ratio)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)

    def _tables(self, ratio: int):
        # Built in float64 and rounded once to the table dtype: the most accurate float32 tables.
        dev = self.table_device
        ntk_base = self.base * ratio ** (self.dim / (self.dim - 2))
        exponents = torch.arange(0, self.dim, 2, dtype=torch.float64, device=dev) / self.dim
        inv_freq = ntk_base ** (-exponents)
        positions = torch.arange(self.max_seq_len * ratio, dtype=torch.float64, device=dev)
        angles = torch.outer(positions, inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(self.table_dtype), angles.sin().to(self.table_dtype)

    def forward(self, input: torch.Tensor, offset: int = 0) -> torch.Tensor:
        end = offset + input.shape[1]
        if end > self.cos_cached.shape[0]:
            ratio = -(-end // self.max_seq_len)  # ceil(end / max_seq_len)
            ratio += ratio % 2  # the smallest even integer that is large enough
            cos, sin = self._tables(ratio)
            if self.dynamic:
                self.ratio = ratio
                self.cos_cached = cos
                self.sin_cached = sin
        else:
            cos, sin = self.cos_cached, self.sin_cached
        return apply_rotary_pos_emb(input, cos[offset:end], sin[offset:end])
