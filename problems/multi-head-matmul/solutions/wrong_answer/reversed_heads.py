import torch


# Bug: heads come out in reverse order (head 0 is placed last).
def matmul_with_multi_head(input, weight, num_heads=1):
    d = input.shape[-1] // num_heads
    outs = []
    for i in reversed(range(num_heads)):
        outs.append(input[..., i * d:(i + 1) * d] @ weight[i * d:(i + 1) * d])
    return torch.stack(outs, dim=2)
