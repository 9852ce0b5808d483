"""Accepted: autograd, but only on private leaf copies of the caller's tensors."""
from typing import Optional, Tuple

import torch


def _mask(probs, top_p, top_k):
    keep = probs >= top_p
    if top_k is not None and top_k < probs.size(1):
        idx = torch.topk(probs, top_k, dim=1).indices
        in_top = torch.zeros_like(keep).scatter(1, idx, True)
        keep = keep & in_top
    return keep


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
    e = weight.size(1)
    hd = h // num_heads
    keep = _mask(probs, top_p, top_k)

    need_grad = grad_output is not None
    x = input.detach().clone().requires_grad_(need_grad)
    w = weight.detach().clone().requires_grad_(need_grad)
    with torch.set_grad_enabled(need_grad):
        xs = x.view(b, s, num_heads, hd)[keep]                 # [t, nh, hd]
        out = torch.einsum("tnd,nde->tne", xs, w.view(num_heads, hd, e))
    if not need_grad:
        return out, None, None
    gx, gw = torch.autograd.grad(out, (x, w), grad_outputs=grad_output)
    return out.detach(), gx, gw
