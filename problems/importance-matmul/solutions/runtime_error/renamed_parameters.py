"""Runtime error: correct maths, but the parameters are called x and w instead of input and
weight; the course's grader passes every argument by keyword, and so does this problem."""

from typing import Optional, Tuple

import torch


def matmul_with_importance(
    x: torch.Tensor,
    w: torch.Tensor,
    probs: torch.Tensor,
    grad_output: Optional[torch.Tensor] = None,
    num_heads: int = 1,
    top_p: float = 1.0,
    top_k: Optional[int] = None,
) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    b, s, h = x.shape
    e = w.shape[1]
    d = h // num_heads
    mask = probs >= top_p
    if top_k is not None and top_k < s:
        mask &= probs >= probs.topk(top_k, dim=-1).values[:, -1:]
    rows = x[mask].view(-1, num_heads, d)
    wh = w.view(num_heads, d, e)
    out = torch.einsum("tnd,nde->tne", rows, wh)
    if grad_output is None:
        return out, None, None
    gi = torch.zeros_like(x)
    gi[mask] = torch.einsum("tne,nde->tnd", grad_output, wh).reshape(-1, h)
    gw = torch.einsum("tnd,tne->nde", rows, grad_output).reshape(h, e)
    return out, gi, gw
