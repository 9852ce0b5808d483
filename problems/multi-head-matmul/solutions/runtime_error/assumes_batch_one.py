import torch


# Bug: assumes batch_size == 1 and views the input as [s, nh, d]; fails for batch_size > 1.
def matmul_with_multi_head(input, weight, num_heads=1):
    s, h = input.shape[1], input.shape[2]
    d = h // num_heads
    x = input.view(s, num_heads, d).transpose(0, 1)          # [nh, s, d]
    w = weight.view(num_heads, d, -1)
    y = torch.bmm(x, w)                                      # [nh, s, e]
    return y.transpose(0, 1).unsqueeze(0)
