import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    # Split the last axis of the input and the first axis of the weight into (heads, head_dim).
    x = input.unflatten(-1, (num_heads, -1))          # [b, s, nh, hd]
    w = weight.unflatten(0, (num_heads, -1))          # [nh, hd, e]
    return torch.einsum("bshd,hde->bshe", x, w)
