"""Time limit exceeded: correct, but a Python loop over every token and every head, with a
tiny matmul per iteration."""
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
        d = h // num_heads
        k = s if top_k is None else min(top_k, s)
        out_rows = []
        grad_input = torch.zeros_like(input) if grad_output is not None else None
        gw32 = torch.zeros(h, e, dtype=torch.float32, device=weight.device)
        r = 0
        for i in range(b):
            kth = torch.topk(probs[i], k).values[-1]
            for j in range(s):
                if not (probs[i, j] >= top_p and probs[i, j] >= kth):
                    continue
                heads = []
                for n in range(num_heads):
                    cols = slice(n * d, (n + 1) * d)
                    heads.append(input[i, j, cols] @ weight[cols])
                    if grad_output is not None:
                        g = grad_output[r, n]
                        grad_input[i, j, cols] = weight[cols] @ g
                        gw32[cols] += torch.outer(input[i, j, cols].float(), g.float())
                out_rows.append(torch.stack(heads))
                r += 1
        if out_rows:
            out = torch.stack(out_rows)
        else:
            out = input.new_zeros(0, num_heads, e)
        if grad_output is None:
            return out, None, None
        return out, grad_input, gw32.to(weight.dtype)
