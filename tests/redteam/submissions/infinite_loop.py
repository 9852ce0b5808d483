"""Infinite loop. Expected: time_limit_exceeded."""


def matmul_with_multi_head(input, weight, num_heads=1):
    while True:
        pass
