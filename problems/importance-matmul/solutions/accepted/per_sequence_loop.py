"""Accepted: a loop over the batch (not over tokens); each sequence's share of grad_weight
is added into a float32 accumulator, cast to the input dtype at the end."""
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
    nh, hd = num_heads, h // num_heads
    k = s if top_k is None else min(top_k, s)
    w = weight.detach().reshape(nh, hd, e)

    outs, rows = [], 0
    grad_input = torch.zeros_like(input, requires_grad=False) if grad_output is not None else None
    grad_weight = torch.zeros(nh, hd, e, dtype=torch.float32, device=weight.device)
    for i in range(b):
        idx = torch.topk(probs[i], k).indices.sort().values     # top-k, back in position order
        idx = idx[probs[i, idx] >= top_p]
        xi = input.detach()[i, idx].reshape(-1, nh, hd).transpose(0, 1)   # [nh, n, hd]
        outs.append(torch.bmm(xi, w).transpose(0, 1))                     # [n, nh, e]
        if grad_output is not None:
            n = idx.numel()
            gi = grad_output[rows : rows + n].transpose(0, 1)             # [nh, n, e]
            rows += n
            grad_input[i, idx] = torch.bmm(gi, w.transpose(1, 2)).transpose(0, 1).reshape(n, h)
            grad_weight += torch.bmm(xi.transpose(1, 2), gi).float()
    out = torch.cat(outs, dim=0)
    if grad_output is None:
        return out, None, None
    return out, grad_input, grad_weight.reshape(h, e).to(weight.dtype)
