import torch


# Bug: every head gets the full product input @ weight instead of its own slice/row block.
def matmul_with_multi_head(input, weight, num_heads=1):
    y = input @ weight                                   # [b, s, e]
    return y.unsqueeze(2).expand(-1, -1, num_heads, -1).contiguous()
