import math  # noqa: F401 - for your code

import torch
import torch.nn.functional as F  # noqa: F401 - for your code
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (chapter 2 of happy-llm)."""

    def __init__(self, args, is_causal=False):
        """
        Args:
            args: the model configuration; uses args.n_embd (input size), args.dim (model size,
                a multiple of args.n_heads), args.n_heads, args.dropout and args.max_seq_len.
            is_causal: whether position t may attend only to positions <= t.

        Register four bias-free projections: wq, wk, wv (n_embd -> dim) and wo (dim -> dim).
        """
        super().__init__()
        raise NotImplementedError("TODO: MultiHeadAttention.__init__")

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """
        Args:
            q, k, v: [batch_size, seq_len, n_embd] each (the same seq_len).

        Returns:
            [batch_size, seq_len, dim]
        """
        raise NotImplementedError("TODO: MultiHeadAttention.forward")
