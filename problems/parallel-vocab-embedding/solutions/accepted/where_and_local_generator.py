# Accepted: a private generator seeded with init_base_seed + rank on the shard's device, ids
# clamped into the shard for a gather, foreign rows replaced by zeros with torch.where.
import torch
import torch.nn as nn


class ParallelVocabEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size, rank=0, world_size=1, process_group=None,
                 init_mean=0.0, init_std=1.0, init_base_seed=42, dtype=torch.float32, device="cpu"):
        super().__init__()
        if vocab_size % world_size:
            raise ValueError("world_size must divide vocab_size")
        per_rank = vocab_size // world_size
        self.lo, self.hi = rank * per_rank, rank * per_rank + per_rank - 1  # inclusive range
        self.mean, self.std, self.seed = init_mean, init_std, init_base_seed + rank
        self.shard = nn.Parameter(torch.empty(per_rank, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        gen = torch.Generator(device=self.shard.device)
        gen.manual_seed(self.seed)
        with torch.no_grad():
            self.shard.normal_(self.mean, self.std, generator=gen)

    def forward(self, input_ids):
        ids = input_ids.to(self.shard.device)
        mine = (ids >= self.lo) & (ids <= self.hi)
        rows = self.shard[(ids - self.lo).clamp(0, self.hi - self.lo)]
        out = torch.where(mine.unsqueeze(-1), rows, torch.zeros((), dtype=rows.dtype, device=rows.device))
        return out.to(input_ids.device)
