"""Accepted: one plain 2-D matmul per head, nonzero() indices for the selection."""
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
    with torch.no_grad():
        b, s, h = input.shape
        e = weight.shape[1]
        hd = h // num_heads
        ok = probs >= top_p
        if top_k is not None and top_k < s:
            kth_value = probs.sort(dim=1, descending=True).values[:, top_k - 1 : top_k]
            ok &= probs >= kth_value
        bi, si = ok.nonzero(as_tuple=True)          # row-major order
        flat = input[bi, si]                         # [t, h]
        t = flat.shape[0]

        heads = []
        for j in range(num_heads):
            cols = slice(j * hd, (j + 1) * hd)
            heads.append(flat[:, cols] @ weight[cols])
        out = torch.stack(heads, dim=1) if heads else input.new_zeros(t, 0, e)
        if grad_output is None:
            return out, None, None

        g_tok = torch.zeros(t, h, dtype=input.dtype, device=input.device)
        grad_weight = torch.zeros_like(weight)
        for j in range(num_heads):
            cols = slice(j * hd, (j + 1) * hd)
            g_tok[:, cols] = grad_output[:, j] @ weight[cols].T
            grad_weight[cols] = flat[:, cols].T @ grad_output[:, j]
        grad_input = torch.zeros_like(input)
        grad_input[bi, si] = g_tok
        return out, grad_input, grad_weight
