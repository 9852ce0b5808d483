# Accepted: keeps the tables pre-shaped for broadcasting as [1, L, 1, dim] buffers, and
# rotates with the two half formulas written out (no rotate_half tensor).
import torch
import torch.nn as nn


def apply_rotary_pos_emb(input, cos, sin):
    return _rotate(input, cos.unsqueeze(1), sin.unsqueeze(1))


def _rotate(input, cos, sin):
    # cos/sin broadcast against input's trailing [s, nh, hd] dimensions.
    x = input.to(torch.float32)
    cos = cos.to(torch.float32)
    sin = sin.to(torch.float32)
    h = x.shape[-1] // 2
    lo = x[..., :h] * cos[..., :h] - x[..., h:] * sin[..., :h]
    hi = x[..., h:] * cos[..., h:] + x[..., :h] * sin[..., h:]
    return torch.cat([lo, hi], dim=-1).to(dtype=input.dtype)


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim, max_seq_len, base=10000, ratio=1, dynamic=False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.dim = dim
        self.max_seq_len = max_seq_len
        self.base = base
        self.ratio = ratio
        self.dynamic = dynamic
        self.dt = dtype
        cos, sin = self._build(ratio, torch.device(device))
        self.register_buffer("cos_bcast", cos, persistent=False)
        self.register_buffer("sin_bcast", sin, persistent=False)

    def _build(self, ratio, device):
        scaled = self.base * (ratio ** (self.dim / (self.dim - 2)))
        two_i = torch.arange(0, self.dim, 2, dtype=torch.float32, device=device)
        inv_freq = torch.pow(scaled, -two_i / self.dim)
        positions = torch.arange(self.max_seq_len * ratio, dtype=torch.float32, device=device)
        ang = positions.unsqueeze(1) * inv_freq.unsqueeze(0)
        ang = torch.cat((ang, ang), dim=1)[None, :, None, :]
        return ang.cos().to(self.dt), ang.sin().to(self.dt)

    def forward(self, input, offset=0):
        stop = offset + input.shape[1]
        cos, sin = self.cos_bcast, self.sin_bcast
        if stop > cos.shape[1]:
            ratio = 2 * (-(-stop // (2 * self.max_seq_len)))
            cos, sin = self._build(ratio, cos.device)
            if self.dynamic:
                self.ratio = ratio
                self.cos_bcast = cos
                self.sin_bcast = sin
        return _rotate(input, cos[:, offset:stop], sin[:, offset:stop])
