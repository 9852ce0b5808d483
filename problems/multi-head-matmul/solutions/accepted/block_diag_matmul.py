import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[1]
    # Place head i's rows of the weight in block (i, i) of an [h, nh*e] block-diagonal
    # matrix; one plain matmul then produces all heads side by side.
    blocks = torch.block_diag(*weight.chunk(num_heads, dim=0))
    y = input.reshape(b * s, h) @ blocks                     # [b*s, nh*e]
    return y.reshape(b, s, num_heads, e)
