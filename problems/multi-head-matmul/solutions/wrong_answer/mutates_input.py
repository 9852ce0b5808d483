import torch


# Bug: rescales the caller's input in place (to "improve" half-precision range) and undoes
# the scale on the output. The first result is right but the input is left modified.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    d = h // num_heads
    input.mul_(2)
    x = input.reshape(b, s, num_heads, d)
    w = weight.reshape(num_heads, d, -1)
    return torch.einsum("bsnd,nde->bsne", x, w) / 2
