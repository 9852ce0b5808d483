"""Instructor reference for multi-head-matmul. Never shipped to a sandbox."""

import torch


def matmul_with_multi_head(
    input: torch.Tensor,
    weight: torch.Tensor,
    num_heads: int = 1,
) -> torch.Tensor:
    b, s, h = input.shape
    e = weight.shape[1]
    hd = h // num_heads
    # [b, s, nh, hd] x [nh, hd, e] -> [b, s, nh, e], in the input's dtype.
    x = input.reshape(b, s, num_heads, hd)
    w = weight.reshape(num_heads, hd, e)
    return torch.einsum("bsnd,nde->bsne", x, w)
