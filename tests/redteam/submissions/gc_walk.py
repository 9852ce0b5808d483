"""Looks for expected outputs in memory (gc objects, stack frames) and returns one.
Expected: wrong_answer (expected values never enter the sandbox)."""
import gc
import sys

import torch


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    shape = (b, s, num_heads, weight.shape[1])
    for obj in gc.get_objects():
        if type(obj) is torch.Tensor and tuple(obj.shape) == shape:
            return obj.clone()
    frame = sys._getframe()
    while frame is not None:
        for value in frame.f_locals.values():
            if type(value) is torch.Tensor and tuple(value.shape) == shape:
                return value.clone()
        frame = frame.f_back
    return torch.zeros(shape, dtype=input.dtype)
