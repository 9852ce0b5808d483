import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    d = h // num_heads
    # [b, s, nh, 1, d] @ [nh, d, e] broadcasts to [b, s, nh, 1, e].
    x = input.view(b, s, num_heads, 1, d)
    w = weight.view(num_heads, d, -1)
    return torch.matmul(x, w).squeeze(-2)
