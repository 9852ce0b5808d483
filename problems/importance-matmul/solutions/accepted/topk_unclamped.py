"""Accepted: torch.topk(probs, top_k) without clamping top_k to the sequence length. That
raises for top_k > seq_len, which the course rules out (top_k is in [1, seq_len]), so it is
never tested."""
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
        idx = torch.topk(probs, top_k, dim=-1).indices
        mask &= torch.zeros_like(mask).scatter_(-1, idx, True)
    x = input.detach()[mask].view(-1, num_heads, d)
    w = weight.detach().view(num_heads, d, e)
    out = torch.einsum("tnd,nde->tne", x, w)
    if grad_output is None:
        return out, None, None
    gi = torch.zeros_like(input)
    gi[mask] = torch.einsum("tne,nde->tnd", grad_output, w).reshape(-1, h)
    gw = torch.einsum("tnd,tne->nde", x, grad_output).reshape(h, e)
    return out, gi, gw
