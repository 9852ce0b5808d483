"""A student's own NTKAwareRoPE with the sign of the rotated half flipped (x2, -x1 instead of
-x2, x1): the transformer.py next to it is correct, the layer's output is not."""

import torch
import torch.nn as nn


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim: int, max_seq_len: int, base: int = 10000, ratio: int = 1, dynamic: bool = False,
                 dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        super().__init__()
        self.dim, self.max_seq_len, self.base, self.ratio, self.dynamic = dim, max_seq_len, base, ratio, dynamic
        self.dtype, self.device = dtype, device
        self._build(ratio)

    def _build(self, ratio: int) -> None:
        base = self.base * ratio ** (self.dim / (self.dim - 2))
        inv = 1.0 / base ** (torch.arange(0, self.dim, 2, dtype=torch.float32, device=self.device) / self.dim)
        t = torch.arange(self.max_seq_len * ratio, dtype=torch.float32, device=self.device)
        ang = torch.outer(t, inv).repeat(1, 2)
        self.cos_cached, self.sin_cached = ang.cos().to(self.dtype), ang.sin().to(self.dtype)

    def forward(self, input: torch.Tensor, offset: int = 0) -> torch.Tensor:
        end = offset + input.shape[1]
        if end > self.cos_cached.shape[0]:
            ratio = -(-end // self.max_seq_len)
            self._build(ratio + ratio % 2)
        cos = self.cos_cached[offset:end][None, :, None, :].to(input.device)
        sin = self.sin_cached[offset:end][None, :, None, :].to(input.device)
        half = input.shape[-1] // 2
        rotated = torch.cat((input[..., half:], -input[..., :half]), dim=-1)  # sign flipped
        return (input * cos + rotated * sin).to(input.dtype)
