"""Compile error: the entry point is misspelled, so src.functional:matmul_with_importance is missing."""
from typing import Optional, Tuple

import torch


def matmul_with_importence(
    input: torch.Tensor,
    weight: torch.Tensor,
    probs: torch.Tensor,
    grad_output: Optional[torch.Tensor] = None,
    num_heads: int = 1,
    top_p: float = 1.0,
    top_k: Optional[int] = None,
) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    b, s, h = input.shape
    d = h // num_heads
    mask = probs >= top_p
    x = input.detach()[mask].view(-1, num_heads, d)
    return torch.einsum("tnd,nde->tne", x, weight.view(num_heads, d, -1)), None, None
