import torch


# Correct but slow: Python loops over batch, position and the offset inside a head; each
# step adds one scaled weight row per head (all heads at once) to the accumulator.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[1]
    d = h // num_heads
    w = weight.reshape(num_heads, d, e)
    out = torch.empty(b, s, num_heads, e, dtype=input.dtype, device=input.device)
    for bi in range(b):
        for si in range(s):
            x = input[bi, si].reshape(num_heads, d)
            acc = torch.zeros(num_heads, e, dtype=input.dtype, device=input.device)
            for j in range(d):
                acc = acc + x[:, j:j + 1] * w[:, j, :]
            out[bi, si] = acc
    return out
