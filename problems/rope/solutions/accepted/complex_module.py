# Accepted: the module rotates with complex numbers (pairs (x_j, x_{j+hd/2}) as one complex
# value times e^{i*angle}); the functional form uses the real formula. Tables built lazily
# from an inverse-frequency vector with torch.polar.
import torch
import torch.nn as nn


def apply_rotary_pos_emb(input, cos, sin):
    x = input.to(torch.float32)
    x1, x2 = x.split(x.shape[-1] // 2, dim=-1)
    rot = torch.cat((x2.neg(), x1), dim=-1)
    out = x * cos.to(torch.float32)[:, None] + rot * sin.to(torch.float32)[:, None]
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
        self.dtype = dtype
        cos, sin = self._compute(ratio, torch.device(device))
        self.register_buffer("cos_cache", cos, persistent=False)
        self.register_buffer("sin_cache", sin, persistent=False)

    def _compute(self, ratio, device):
        theta = self.base * ratio ** (self.dim / (self.dim - 2))
        exps = torch.arange(0, self.dim, 2, device=device, dtype=torch.float32) / self.dim
        inv_freq = theta ** -exps
        pos = torch.arange(self.max_seq_len * ratio, device=device, dtype=torch.float32)
        rot = torch.polar(torch.ones(pos.numel(), inv_freq.numel(), device=device),
                          pos[:, None] * inv_freq)
        cos = torch.cat([rot.real, rot.real], dim=-1)
        sin = torch.cat([rot.imag, rot.imag], dim=-1)
        return cos.to(self.dtype), sin.to(self.dtype)

    def forward(self, input, offset=0):
        n = input.shape[1]
        end = offset + n
        if end > self.cos_cache.shape[0]:
            k = -(-end // self.max_seq_len)
            k = k + (k & 1)
            cos, sin = self._compute(k, self.cos_cache.device)
            if self.dynamic:
                self.ratio = k
                self.cos_cache, self.sin_cache = cos, sin
        else:
            cos, sin = self.cos_cache, self.sin_cache
        c = cos[offset:end, : self.dim // 2]
        s = sin[offset:end, : self.dim // 2]
        x = input.to(torch.float32)
        h = self.dim // 2
        z = torch.complex(x[..., :h], x[..., h:])
        z = z * torch.complex(c, s)[None, :, None, :]
        return torch.cat((z.real, z.imag), dim=-1).to(input.dtype)
