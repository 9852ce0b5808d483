"""Memory bomb: touches ever more memory. Expected: memory_limit_exceeded."""
import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    hoard = []
    while True:
        hoard.append(torch.ones(16 << 20, dtype=torch.float32))  # 64 MiB, every page touched
