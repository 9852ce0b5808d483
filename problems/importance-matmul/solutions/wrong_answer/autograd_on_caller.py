"""Wrong answer: switches on requires_grad of the caller's own input and weight and never
switches it off again; the caller's tensors come back requiring grad (a mutation the course
checks as well)."""
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
    if top_k is not None and top_k < s:
        mask &= probs >= probs.topk(top_k, dim=-1).values[:, -1:]
    input.requires_grad_()
    weight.requires_grad_()
    out = torch.einsum("tnd,nde->tne", input[mask].view(-1, num_heads, d), weight.view(num_heads, d, e))
    if grad_output is None:
        return out.detach(), None, None
    out.backward(grad_output)
    gi, gw = input.grad.clone(), weight.grad.clone()
    input.grad = None
    weight.grad = None
    return out.detach(), gi, gw
