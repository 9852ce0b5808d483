# Wrong answer: the shard's range is taken as [r*n, (r+1)*n - 1) (the inclusive end used as an exclusive one), so the last id of every shard gives zeros.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ParallelVocabEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size, rank=0, world_size=1, process_group=None,
                 init_mean=0.0, init_std=1.0, init_base_seed=42, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.n = vocab_size // world_size
        self.start, self.end = rank * self.n, (rank + 1) * self.n
        self.init_mean, self.init_std, self.seed = init_mean, init_std, init_base_seed + rank
        self.weight = nn.Parameter(torch.empty(self.n, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input_ids):
        ids = input_ids.to(self.weight.device)
        last = self.end - 1
        mask = (ids < self.start) | (ids >= last)
        local = (ids - self.start).masked_fill(mask, 0)
        out = F.embedding(local, self.weight).masked_fill(mask.unsqueeze(-1), 0.0)
        return out.to(input_ids.device)

    def reset_parameters(self):
        torch.manual_seed(self.seed)
        nn.init.normal_(self.weight, self.init_mean, self.init_std)

