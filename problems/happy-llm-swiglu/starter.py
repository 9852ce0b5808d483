import torch  # noqa: F401 - for your code
import torch.nn.functional as F  # noqa: F401 - for your code
from torch import nn


class MLP(nn.Module):
    """The LLaMA-style SwiGLU feed-forward network (chapter 5 of happy-llm)."""

    def __init__(self, dim: int, hidden_dim: int, multiple_of: int, dropout: float):
        """
        Args:
            dim: the model size (input and output of the network).
            hidden_dim: the hidden size, or None to derive it from dim: two thirds of 4 * dim
                (truncated to an integer), rounded up to a multiple of multiple_of.
            multiple_of: see hidden_dim.
            dropout: the dropout probability applied to the output.

        Register three bias-free linear layers: w1 (dim -> hidden), w2 (hidden -> dim),
        w3 (dim -> hidden), and a dropout layer.
        """
        super().__init__()
        raise NotImplementedError("TODO: MLP.__init__")

    def forward(self, x):
        """
        Args:
            x: [batch_size, seq_len, dim]

        Returns:
            [batch_size, seq_len, dim]: dropout(w2(silu(w1(x)) * w3(x)))
        """
        raise NotImplementedError("TODO: MLP.forward")
