"""Runtime error (a wrong selection): top-k taken over the whole batch (b * top_k best tokens overall) instead of
inside every sequence; the number of kept tokens often matches, the tokens do not.
In the gradient cases grad_output is sized for the right selection, so its own backward
crashes there (the forward-only cases are wrong answers).
"""
from typing import Optional, Tuple

import torch


def matmul_with_importance(
    input: torch.Tensor,
    weight: torch.Tensor,
    probs: torch.Tensor,
    grad_output: Optional[torch.Tensor] = None,
    num_heads: int = 1,
    top_p: float = 1.0,
    top_k: Optional[int] = None,
) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    b, s, h = input.shape
    e = weight.shape[1]
    d = h // num_heads
    mask = probs >= top_p
    if top_k is not None:
        flat = probs.flatten()
        k = min(top_k * b, flat.numel())
        chosen = torch.zeros_like(flat, dtype=torch.bool)
        chosen[flat.topk(k).indices] = True
        mask &= chosen.view(b, s)
    x = input.detach()[mask].view(-1, num_heads, d)
    w = weight.detach().view(num_heads, d, e)
    out = torch.einsum("tnd,nde->tne", x, w)
    if grad_output is None:
        return out, None, None
    gi = torch.zeros_like(input)
    gi[mask] = torch.einsum("tne,nde->tnd", grad_output, w).reshape(-1, h)
    gw = torch.einsum("tnd,tne->nde", x, grad_output).reshape(h, e)
    return out, gi, gw
