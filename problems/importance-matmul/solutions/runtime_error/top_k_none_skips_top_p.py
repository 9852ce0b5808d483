"""Runtime error (a wrong selection): when top_k is None every token is kept, forgetting the top_p filter.
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
    if top_k is None:
        mask = torch.ones_like(probs, dtype=torch.bool)
    else:
        mask = probs >= top_p
        if top_k < s:
            mask &= probs >= probs.topk(top_k, dim=-1).values[:, -1:]
    x = input.detach()[mask].view(-1, num_heads, d)
    w = weight.detach().view(num_heads, d, e)
    out = torch.einsum("tnd,nde->tne", x, w)
    if grad_output is None:
        return out, None, None
    gi = torch.zeros_like(input)
    gi[mask] = torch.einsum("tne,nde->tnd", grad_output, w).reshape(-1, h)
    gw = torch.einsum("tnd,tne->nde", x, grad_output).reshape(h, e)
    return out, gi, gw
