# Rule violation: imports the Hugging Face RoPE helper (forbidden_imports lists transformers).
# It falls back to a correct implementation when transformers is missing, so only the rule
# check can reject it.
import torch
import torch.nn as nn

try:
    from transformers.models.llama.modeling_llama import rotate_half as _hf_rotate_half
except ImportError:
    _hf_rotate_half = None


def _rotate_half(x):
    if _hf_rotate_half is not None:
        return _hf_rotate_half(x)
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rotary_pos_emb(input, cos, sin):
    x = input.float()
    c = cos.float()[:, None, :]
    s = sin.float()[:, None, :]
    return (x * c + _rotate_half(x) * s).to(input.dtype)


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim, max_seq_len, base=10000, ratio=1, dynamic=False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.dim, self.max_seq_len, self.base = dim, max_seq_len, base
        self.ratio, self.dynamic = ratio, dynamic
        c, s = self._tables(ratio, device)
        self.register_buffer("cos_t", c, persistent=False)
        self.register_buffer("sin_t", s, persistent=False)

    def _tables(self, ratio, device):
        base = self.base * ratio ** (self.dim / (self.dim - 2))
        inv = base ** (-torch.arange(0, self.dim, 2, device=device).float() / self.dim)
        ang = torch.arange(self.max_seq_len * ratio, device=device).float()[:, None] * inv
        ang = torch.cat((ang, ang), -1)
        return ang.cos(), ang.sin()

    def forward(self, input, offset=0):
        end = offset + input.shape[1]
        c, s = self.cos_t, self.sin_t
        if end > c.shape[0]:
            r = -(-end // self.max_seq_len)
            r += r % 2
            c, s = self._tables(r, c.device)
            if self.dynamic:
                self.ratio, self.cos_t, self.sin_t = r, c, s
        return apply_rotary_pos_emb(input, c[offset:end], s[offset:end])
