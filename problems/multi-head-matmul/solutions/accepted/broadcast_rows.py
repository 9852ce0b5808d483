import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    d = h // num_heads
    # Treat every (batch, position) row as a batch of heads: [b*s, nh, d] -> [nh, b*s, d].
    x = input.reshape(-1, num_heads, d).permute(1, 0, 2)
    y = torch.matmul(x, weight.reshape(num_heads, d, -1))   # [nh, b*s, e]
    return y.permute(1, 0, 2).reshape(b, s, num_heads, -1)
