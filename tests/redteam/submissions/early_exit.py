"""Exits with status 0 before returning. Expected: runtime_error."""
import os


def matmul_with_multi_head(input, weight, num_heads=1):
    os._exit(0)
