import torch
import torch.nn as nn
import torch.nn.functional as F


class VocabEmbedding(nn.Module):
    """A learnable table of one embedding vector per token id."""

    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        """
        Args:
            vocab_size: v, the number of token ids (ids are 0 .. v - 1).
            emb_size: e, the length of each embedding vector.
            init_mean: mean of the normal distribution the table is drawn from.
            init_std: standard deviation of that distribution.
            init_seed: the seed reset_parameters() uses.
            dtype: dtype of the table.
            device: device of the table.
        """
        super().__init__()
        raise NotImplementedError("TODO: VocabEmbedding.__init__")

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """
        Args:
            input_ids: [batch_size, seq_len], dtype torch.long, values in [0, vocab_size).

        Returns:
            [batch_size, seq_len, emb_size], on input_ids' device, in the table's dtype.
        """
        raise NotImplementedError("TODO: VocabEmbedding.forward")

    def reset_parameters(self) -> None:
        """Draw the table from N(init_mean, init_std^2) with the seed init_seed."""
        raise NotImplementedError("TODO: VocabEmbedding.reset_parameters")
