"""Reference solution for `parallel-vocab-embedding` (instructor only; never enters a student's sandbox)."""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed import ProcessGroup


class ParallelVocabEmbedding(nn.Module):
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
        super().__init__()
        if vocab_size % world_size != 0:
            raise ValueError(f"vocab_size {vocab_size} is not a multiple of world_size {world_size}")
        self.vocab_size = vocab_size
        self.emb_size = emb_size
        self.rank = rank
        self.world_size = world_size
        self.process_group = process_group  # kept for the interface; no communication here
        self.init_mean = init_mean
        self.init_std = init_std
        self.init_seed = init_base_seed + rank
        self.shard_size = vocab_size // world_size
        self.shard_start = rank * self.shard_size
        self.weight = nn.Parameter(torch.empty(self.shard_size, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        local = input_ids.to(self.weight.device) - self.shard_start  # a new tensor: ids untouched
        inside = (local >= 0) & (local < self.shard_size)
        rows = F.embedding(torch.where(inside, local, 0), self.weight)
        rows = rows * inside.unsqueeze(-1).to(rows.dtype)  # ids of other shards give zero rows
        return rows.to(input_ids.device)

    def reset_parameters(self) -> None:
        # Each rank seeds with base seed + rank, so the shards differ; normal_ draws on the
        # shard's device.
        torch.manual_seed(self.init_seed)
        nn.init.normal_(self.weight, mean=self.init_mean, std=self.init_std)
