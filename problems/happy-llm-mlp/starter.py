import torch  # noqa: F401 - for your code
import torch.nn.functional as F  # noqa: F401 - for your code
from torch import nn


class MLP(nn.Module):
    """The Transformer's feed-forward network (chapter 2 of happy-llm)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float):
        """
        Args:
            dim: the model size (input and output of the network).
            hidden_dim: the size of the hidden layer.
            dropout: the dropout probability applied to the output.

        Register two bias-free linear layers, w1 (dim -> hidden_dim) and w2 (hidden_dim -> dim),
        and a dropout layer.
        """
        super().__init__()
        raise NotImplementedError("TODO: MLP.__init__")

    def forward(self, x):
        """
        Args:
            x: [batch_size, seq_len, dim]

        Returns:
            [batch_size, seq_len, dim]: dropout(w2(relu(w1(x))))
        """
        raise NotImplementedError("TODO: MLP.forward")
