# Accepted: rotate_half as a gather plus a sign vector; tables computed in float64 and stored
# as float32; the table is rebuilt through a helper that also handles extension.
import torch
import torch.nn as nn


def apply_rotary_pos_emb(input, cos, sin):
    hd = input.shape[-1]
    h = hd // 2
    perm = torch.cat([torch.arange(h, hd), torch.arange(0, h)]).to(input.device)
    sign = torch.cat([-torch.ones(h), torch.ones(h)]).to(device=input.device, dtype=torch.float32)
    x = input.float()
    rotated = x.index_select(-1, perm) * sign
    c = cos.float().view(1, cos.shape[0], 1, hd)
    s = sin.float().view(1, sin.shape[0], 1, hd)
    out = torch.addcmul(x * c, rotated, s)
    return out.type(input.dtype)


def _tables(dim, n, base, ratio, dtype, device):
    b = float(base) * float(ratio) ** (dim / (dim - 2))
    j = torch.arange(dim // 2, dtype=torch.float64)
    inv = torch.pow(torch.tensor(b, dtype=torch.float64), -2.0 * j / dim)
    pos = torch.arange(n, dtype=torch.float64)
    half = pos[:, None] * inv[None, :]
    full = torch.cat((half, half), dim=1)
    return (full.cos().to(dtype=dtype, device=device),
            full.sin().to(dtype=dtype, device=device))


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim, max_seq_len, base=10000, ratio=1, dynamic=False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.dim = dim
        self.max_seq_len = max_seq_len
        self.base = base
        self.ratio = ratio
        self.dynamic = dynamic
        self._dtype = dtype
        self._device = device
        c, s = _tables(dim, max_seq_len * ratio, base, ratio, dtype, device)
        self.register_buffer("rope_cos", c, persistent=False)
        self.register_buffer("rope_sin", s, persistent=False)

    def _lookup(self, end):
        if end <= self.rope_cos.shape[0]:
            return self.rope_cos, self.rope_sin
        ratio = 2
        while self.max_seq_len * ratio < end:
            ratio += 2
        c, s = _tables(self.dim, self.max_seq_len * ratio, self.base, ratio,
                       self._dtype, self.rope_cos.device)
        if self.dynamic:
            self.ratio = ratio
            self.rope_cos, self.rope_sin = c, s
        return c, s

    def forward(self, input, offset=0):
        end = offset + input.shape[1]
        c, s = self._lookup(end)
        return apply_rotary_pos_emb(input, c[offset:end], s[offset:end])
