import math  # noqa: F401 - for your code

import torch  # noqa: F401 - for your code
from torch import nn


class PositionalEncoding(nn.Module):
    """Sinusoidal positional encoding (chapter 2 of happy-llm)."""

    def __init__(self, args):
        """
        Args:
            args: the model configuration; uses args.block_size (the longest sequence) and
                args.n_embd (the embedding size, even).

        Build the table PE[pos, 2i] = sin(pos / 10000^(2i/n_embd)),
                        PE[pos, 2i+1] = cos(pos / 10000^(2i/n_embd))
        and register it as the buffer `pe` of shape [1, block_size, n_embd].
        """
        super().__init__()
        raise NotImplementedError("TODO: PositionalEncoding.__init__")

    def forward(self, x):
        """
        Args:
            x: [batch_size, seq_len, n_embd] with seq_len <= block_size.

        Returns:
            x plus the table's first seq_len rows, same shape.
        """
        raise NotImplementedError("TODO: PositionalEncoding.forward")
