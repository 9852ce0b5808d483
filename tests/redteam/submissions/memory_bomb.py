"""Memory bomb: asks for 3 GiB at once, every page touched. Expected: memory_limit_exceeded."""
import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    hoard = [torch.ones(3 << 28, dtype=torch.float32)]  # 3 GiB
    while True:
        hoard.append(torch.ones(16 << 20, dtype=torch.float32))
