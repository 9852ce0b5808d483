# Accepted: torch.chunk + torch.cat for rotate_half, float32 tables built with pow and outer.
import torch
import torch.nn as nn


def rotate_half(x):
    a, b = torch.chunk(x, 2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rotary_pos_emb(input, cos, sin):
    x = input.float()
    cos = cos.float().unsqueeze(0).unsqueeze(2)
    sin = sin.float().unsqueeze(0).unsqueeze(2)
    return (x * cos + rotate_half(x) * sin).to(input.dtype)


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
        self.device = device
        cos, sin = self._make(ratio)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _make(self, ratio):
        base = self.base * ratio ** (self.dim / (self.dim - 2))
        inv_freq = 1.0 / (base ** (torch.arange(0, self.dim, 2, device=self.device).float() / self.dim))
        t = torch.arange(self.max_seq_len * ratio, device=self.device).float()
        freqs = torch.outer(t, inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def forward(self, input, offset=0):
        seq_len = input.shape[1]
        total = offset + seq_len
        cos, sin = self.cos, self.sin
        if total > cos.shape[0]:
            r = (total + self.max_seq_len - 1) // self.max_seq_len
            if r % 2 == 1:
                r += 1
            cos, sin = self._make(r)
            if self.dynamic:
                self.ratio = r
                self.cos, self.sin = cos, sin
        return apply_rotary_pos_emb(input, cos[offset:total], sin[offset:total])
