# Wrong answer: with dynamic=False it keeps the largest extension built so far in a private
# cache and reuses it for any later call that fits, even one whose own ratio is smaller.
import torch
import torch.nn as nn


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rotary_pos_emb(input, cos, sin):
    x = input.float()
    c = cos.float()[None, :, None, :]
    s = sin.float()[None, :, None, :]
    out = x * c + rotate_half(x) * s
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
        self.table_dtype = dtype
        self.table_device = device
        cos, sin = self._tables(ratio, max_seq_len * ratio)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)
        self._spare = None

    def _tables(self, ratio, n):
        base = self.base * ratio ** (self.dim / (self.dim - 2))
        i = torch.arange(0, self.dim // 2, dtype=torch.float32, device=self.table_device)
        inv_freq = base ** (-(2 * i) / self.dim)
        pos = torch.arange(n, dtype=torch.float32, device=self.table_device)
        freqs = pos[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.table_dtype), emb.sin().to(self.table_dtype)

    def _new_ratio(self, needed):
        k = -(-needed // self.max_seq_len)
        if k % 2:
            k += 1
        return k

    def forward(self, input, offset=0):
        start = offset
        end = start + input.shape[1]
        if end <= self.cos_cached.shape[0]:
            cos, sin = self.cos_cached, self.sin_cached
        elif self._spare is not None and end <= self._spare[0].shape[0]:
            cos, sin = self._spare
        else:
            k = self._new_ratio(end)
            cos, sin = self._tables(k, self.max_seq_len * k)
            if self.dynamic:
                self.ratio = k
                self.cos_cached = cos
                self.sin_cached = sin
            else:
                self._spare = (cos, sin)
        return apply_rotary_pos_emb(input, cos[start:end], sin[start:end])
