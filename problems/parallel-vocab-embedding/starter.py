from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed import ProcessGroup


class ParallelVocabEmbedding(nn.Module):
    """One rank's shard of a vocabulary embedding table split evenly over `world_size` ranks.

    Only this rank's lookup is computed; the reduction over ranks is out of scope.
    """

    def __init__(
        self,
        vocab_size: int,
        emb_size: int,
        rank: int = 0,
        world_size: int = 1,
        process_group: Optional[ProcessGroup] = None,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        init_base_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        """
        Args:
            vocab_size: v, the size of the whole vocabulary (a multiple of world_size).
            emb_size: e, the length of each embedding vector.
            rank: r, this rank's index in [0, world_size).
            world_size: w, the number of shards.
            process_group: unused here (the tests pass None).
            init_mean: mean of the normal distribution the shard is drawn from.
            init_std: standard deviation of that distribution.
            init_base_seed: the shard is drawn with the seed init_base_seed + rank.
            dtype: dtype of the shard.
            device: device of the shard.
        """
        super().__init__()
        raise NotImplementedError("TODO: ParallelVocabEmbedding.__init__")

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """
        Args:
            input_ids: [batch_size, seq_len], dtype torch.long, values in [0, vocab_size).

        Returns:
            [batch_size, seq_len, emb_size] on input_ids' device in the shard's dtype: this
            rank's rows for ids in its shard, zeros for every other id.
        """
        raise NotImplementedError("TODO: ParallelVocabEmbedding.forward")

    def reset_parameters(self) -> None:
        """Draw the shard from N(init_mean, init_std^2) with the seed init_base_seed + rank."""
        raise NotImplementedError("TODO: ParallelVocabEmbedding.reset_parameters")
