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
    """Multi-head matmul of the important tokens only.

    Args:
        input:       [b, s, h]
        weight:      [h, e]
        probs:       [b, s], importance of every token, in [0, 1]
        grad_output: [t, num_heads, e] or None (t = number of kept tokens)
        num_heads:   h is split into num_heads heads of size h // num_heads
        top_p:       keep tokens with probs >= top_p
        top_k:       and, per sequence, only the top_k most important ones (None: no limit)

    Returns:
        output:      [t, num_heads, e], kept tokens in (batch, position) order
        grad_input:  [b, s, h] (zero at dropped tokens) or None without grad_output
        grad_weight: [h, e] or None without grad_output
    """
    raise NotImplementedError
