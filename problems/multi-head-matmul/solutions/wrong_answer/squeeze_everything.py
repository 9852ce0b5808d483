import torch


# Bug: a bare .squeeze() also drops the batch, sequence, head or embed axis when it has size 1.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    d = h // num_heads
    x = input.reshape(b, s, num_heads, 1, d)
    w = weight.reshape(num_heads, d, -1)
    return torch.matmul(x, w).squeeze()
