"""Wrong answer: keeps the autograd leaves in a module-level cache to avoid re-allocating
them, and never clears their .grad, so the second call returns doubled gradients."""
from typing import Optional, Tuple

import torch

_leaves = {}


def _leaf(t: torch.Tensor) -> torch.Tensor:
    key = (id(t), tuple(t.shape), t.dtype)
    if key not in _leaves:
        _leaves[key] = t.detach().clone().requires_grad_(True)
    return _leaves[key]


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
    x, w = _leaf(input), _leaf(weight)
    with torch.enable_grad():
        out = torch.einsum("tnd,nde->tne", x[mask].view(-1, num_heads, d), w.view(num_heads, d, e))
    if grad_output is None:
        return out.detach(), None, None
    out.backward(grad_output)
    return out.detach(), x.grad.clone(), w.grad.clone()
