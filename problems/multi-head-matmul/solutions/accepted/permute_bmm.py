import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[-1]
    d = h // num_heads
    # Heads become the batch axis of a bmm: [nh, b*s, d] @ [nh, d, e] -> [nh, b*s, e].
    x = input.reshape(b * s, num_heads, d).transpose(0, 1)
    w = weight.reshape(num_heads, d, e)
    y = torch.bmm(x, w)
    return y.transpose(0, 1).reshape(b, s, num_heads, e)
