"""Accepted: closed-form gradients with einsum, selection by a sorted-threshold trick."""
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
    e = weight.shape[-1]
    d = h // num_heads

    mask = probs >= top_p
    if top_k is not None:
        k = min(top_k, s)
        # rank of every token inside its sequence (0 = most important)
        order = probs.argsort(dim=-1, descending=True)
        rank = torch.empty_like(order)
        rank.scatter_(-1, order, torch.arange(s, device=probs.device).expand(b, s))
        mask = mask & (rank < k)

    x = input.detach()[mask].reshape(-1, num_heads, d)      # [t, nh, d]
    w = weight.detach().reshape(num_heads, d, e)            # [nh, d, e]
    out = torch.einsum("tnd,nde->tne", x, w)
    if grad_output is None:
        return out, None, None

    g = grad_output.detach()
    grad_input = input.new_zeros(b, s, h)
    grad_input[mask] = torch.einsum("tne,nde->tnd", g, w).reshape(-1, h)
    grad_weight = torch.einsum("tnd,tne->nde", x, g).reshape(h, e)
    return out, grad_input, grad_weight
