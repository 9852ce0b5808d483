"""Runtime error: collects the kept rows in a list and torch.stack()s it, which raises when
no token is kept."""
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
    k = s if top_k is None else min(top_k, s)
    mask = (probs >= top_p) & (probs >= probs.topk(k, dim=-1).values[:, -1:])
    rows = [input[i, j].detach() for i, j in mask.nonzero().tolist()]
    x = torch.stack(rows).view(-1, num_heads, d)
    w = weight.detach().view(num_heads, d, e)
    out = torch.einsum("tnd,nde->tne", x, w)
    if grad_output is None:
        return out, None, None
    gi = torch.zeros_like(input)
    gi[mask] = torch.einsum("tne,nde->tnd", grad_output, w).reshape(-1, h)
    gw = torch.einsum("tnd,tne->nde", x, grad_output).reshape(h, e)
    return out, gi, gw
