"""Compile error: a missing colon after the def line."""
from typing import Optional, Tuple

import torch


def matmul_with_importance(input, weight, probs, grad_output=None, num_heads=1, top_p=1.0, top_k=None)
    mask = probs >= top_p
    return input[mask] @ weight, None, None
