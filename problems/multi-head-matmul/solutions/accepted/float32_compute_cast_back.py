import torch


# Accepted: computes in float32 and casts the result back to the input dtype (the course
# uses only float32, float16 and bfloat16, so float32 arithmetic is never too coarse).
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    d = h // num_heads
    x = input.float().reshape(b, s, num_heads, d)
    w = weight.float().reshape(num_heads, d, -1)
    return torch.einsum("bsnd,nde->bsne", x, w).to(input.dtype)
