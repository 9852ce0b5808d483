import torch


# Bug: right maths, but the parameters are named x and w; the judge, like the course's
# grader, passes input= and weight= by keyword, so the call fails with a TypeError.
def matmul_with_multi_head(x, w, num_heads=1):
    b, s, h = x.shape
    d = h // num_heads
    return torch.einsum("bsnd,nde->bsne", x.reshape(b, s, num_heads, d), w.reshape(num_heads, d, -1))
