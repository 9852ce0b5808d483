# Accepted: clone the ids onto the shard's device, mask the foreign ones, shift into the shard,
# send masked ids to row 0, look up, then zero the masked rows (the course's recipe).
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class ParallelVocabEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size: int, rank: int = 0, world_size: int = 1,
                 process_group: Optional[object] = None, init_mean: float = 0.0, init_std: float = 1.0,
                 init_base_seed: int = 42, dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        super().__init__()
        assert vocab_size % world_size == 0, "vocab_size must be divisible by world_size"
        self.n = vocab_size // world_size
        self.start, self.end = rank * self.n, (rank + 1) * self.n
        self.world_size = world_size
        self.init_mean, self.init_std, self.seed = init_mean, init_std, init_base_seed + rank
        self.weight = nn.Parameter(torch.empty(self.n, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input_ids):
        device = input_ids.device
        ids = input_ids.clone().to(self.weight.device)
        mask = (ids < self.start) | (ids >= self.end)
        ids -= self.start
        ids[mask] = 0
        out = F.embedding(ids, self.weight)
        out[mask, :] = 0.0
        return out.to(device)

    def reset_parameters(self):
        torch.manual_seed(self.seed)
        nn.init.normal_(self.weight, self.init_mean, self.init_std)
