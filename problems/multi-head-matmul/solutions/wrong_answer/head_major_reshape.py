import torch


# Bug: computes [b, nh, s, e] and reshapes it to [b, s, nh, e] without permuting the axes.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[1]
    d = h // num_heads
    x = input.reshape(b, s, num_heads, d).transpose(1, 2)    # [b, nh, s, d]
    w = weight.reshape(num_heads, d, e)                      # [nh, d, e]
    y = torch.matmul(x, w)                                   # [b, nh, s, e]
    return y.reshape(b, s, num_heads, e)
