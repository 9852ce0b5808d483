import torch


# Bug: cuts the weight into heads along its columns (embed axis) and tiles them,
# instead of taking each head's block of rows.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[1]
    d = h // num_heads
    w = weight.t().reshape(e, num_heads, d).permute(1, 2, 0)  # [nh, d, e] from a column-major cut
    x = input.reshape(b, s, num_heads, d)
    return torch.einsum("bsnd,nde->bsne", x, w)
