import torch


# Bug: splits hidden features into heads with a stride (feature j goes to head j % nh)
# instead of contiguous blocks; input and weight agree, so it "looks" consistent.
def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    e = weight.shape[1]
    d = h // num_heads
    x = input.reshape(b, s, d, num_heads)                    # x[..., j, i] = feature j*nh + i
    w = weight.reshape(d, num_heads, e)
    return torch.einsum("bsji,jie->bsie", x, w)
