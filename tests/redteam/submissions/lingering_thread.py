"""Starts a non-daemon thread that never ends, then answers wrong. Expected: wrong_answer, fast."""
import threading

import torch


def _spin():
    while True:
        pass


def matmul_with_multi_head(input, weight, num_heads=1):
    threading.Thread(target=_spin, daemon=False).start()
    b, s, h = input.shape
    return torch.zeros(b, s, num_heads, weight.shape[1], dtype=input.dtype)
