"""Wrong answer: computes in float32 for accuracy and forgets to cast the results back to
the input dtype (float16/bfloat16 cases get float32 tensors)."""
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
    x = input.detach().float()[mask].view(-1, num_heads, d)
    w = weight.detach().float().view(num_heads, d, e)
    out = torch.einsum("tnd,nde->tne", x, w)
    if grad_output is None:
        return out, None, None
    g = grad_output.float()
    gi = torch.zeros(b, s, h, device=input.device)
    gi[mask] = torch.einsum("tne,nde->tnd", g, w).reshape(-1, h)
    gw = torch.einsum("tnd,tne->nde", x, g).reshape(h, e)
    return out, gi, gw
