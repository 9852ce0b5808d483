import torch


# Bug: the input is cut into contiguous head slices, but the weight is reshaped as
# [d, nh, e] and transposed, so head i gets weight rows i, i+nh, i+2*nh, ... instead of
# its own contiguous block of rows.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    d = h // num_heads
    x = input.reshape(b, s, num_heads, d)
    w = weight.reshape(d, num_heads, -1).transpose(0, 1)     # [nh, d, e], wrong rows
    return torch.einsum("bsnd,nde->bsne", x, w)
