import torch


def matmul_with_multi_head(input: torch.Tensor, weight: torch.Tensor, num_heads: int = 1) -> torch.Tensor:
    head_dim = input.shape[-1] // num_heads
    outs = []
    for i in range(num_heads):
        lo, hi = i * head_dim, (i + 1) * head_dim
        outs.append(input[..., lo:hi] @ weight[lo:hi, :])   # [b, s, e]
    return torch.stack(outs, dim=2)                          # [b, s, nh, e]
