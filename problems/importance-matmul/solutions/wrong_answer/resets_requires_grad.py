"""Wrong answer: uses autograd on the caller's tensors and then "cleans up" by setting
requires_grad back to False and dropping .grad; right whenever the caller's tensors did not
require grad, a mutation when they did (requires_grad flipped, the caller's .grad lost)."""
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
    if grad_output is None:
        with torch.no_grad():
            out = torch.einsum("tnd,nde->tne", input[mask].view(-1, num_heads, d),
                               weight.view(num_heads, d, e))
        input.requires_grad_(False)
        weight.requires_grad_(False)
        return out, None, None
    input.grad = None
    weight.grad = None
    input.requires_grad_(True)
    weight.requires_grad_(True)
    out = torch.einsum("tnd,nde->tne", input[mask].view(-1, num_heads, d), weight.view(num_heads, d, e))
    gi, gw = torch.autograd.grad(out, (input, weight), grad_output)
    input.requires_grad_(False)
    weight.requires_grad_(False)
    return out.detach(), gi, gw
