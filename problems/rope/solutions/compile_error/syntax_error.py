# Compile error: a syntax error (missing colon after the def).
import torch
import torch.nn as nn


def apply_rotary_pos_emb(input, cos, sin)
    h = input.shape[-1] // 2
    x = input.float()
    rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return (x * cos.float()[:, None] + rot * sin.float()[:, None]).to(input.dtype)


class NTKAwareRoPE(nn.Module):
    def __init__(self, dim, max_seq_len, base=10000, ratio=1, dynamic=False,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
