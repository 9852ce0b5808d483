# Compile error: only the functional form is written; the NTKAwareRoPE entry point is missing.
import torch


def apply_rotary_pos_emb(input, cos, sin):
    h = input.shape[-1] // 2
    x = input.float()
    rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return (x * cos.float()[:, None] + rot * sin.float()[:, None]).to(input.dtype)
