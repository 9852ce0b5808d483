"""Reference solution for importance-matmul (instructor only; never enters a student's sandbox).

Precision contract: every product is computed by one batched matmul in the dtype of `input`
(exactly what plain PyTorch does for a half-precision einsum/matmul), and every result is
returned in that dtype. No autograd is used, so the caller's tensors are never touched.
"""

from typing import Optional, Tuple

import torch


def _kept_mask(probs: torch.Tensor, top_p: float, top_k: Optional[int]) -> torch.Tensor:
    """Boolean [b, s]: probs >= top_p and, per sequence, among the top_k largest probs."""
    keep = probs >= top_p
    seq_len = probs.shape[-1]
    if top_k is not None and top_k < seq_len:
        # Rank inside each sequence and keep exactly the top_k positions torch.topk picks, so
        # that ties (which the judge's data never has, but the course's half-precision data
        # does) are broken the way the course's reference breaks them.
        picked = torch.topk(probs, top_k, dim=-1).indices
        keep = keep & torch.zeros_like(keep).scatter(-1, picked, True)
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
    with torch.no_grad():
        b, s, h = input.shape
        e = weight.shape[1]
        nh = num_heads
        hd = h // nh

        keep = _kept_mask(probs, top_p, top_k)          # [b, s]
        x = input[keep].view(-1, nh, hd)                # [t, nh, hd], row-major (b, s) order
        w = weight.view(nh, hd, e)                      # [nh, hd, e]

        # [nh, t, hd] @ [nh, hd, e] -> [nh, t, e] -> [t, nh, e]
        out = torch.bmm(x.transpose(0, 1), w).transpose(0, 1).contiguous()
        if grad_output is None:
            return out, None, None

        g = grad_output.transpose(0, 1)                 # [nh, t, e]
        gx = torch.bmm(g, w.transpose(1, 2))            # [nh, t, hd]
        grad_input = torch.zeros_like(input)
        grad_input[keep] = gx.transpose(0, 1).reshape(-1, h)
        gw = torch.bmm(x.transpose(0, 1).transpose(1, 2), g)   # [nh, hd, e]
        grad_weight = gw.reshape(h, e)
        return out, grad_input, grad_weight
