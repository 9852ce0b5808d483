# Wrong answer: the whole [v, e] table is drawn with the rank's seed and the shard's rows are sliced out of it; only rank 0's rows match the shard drawn on its own.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ParallelVocabEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size, rank=0, world_size=1, process_group=None,
                 init_mean=0.0, init_std=1.0, init_base_seed=42, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.vocab_size = vocab_size
        self.n = vocab_size // world_size
        self.start, self.end = rank * self.n, (rank + 1) * self.n
        self.init_mean, self.init_std, self.seed = init_mean, init_std, init_base_seed + rank
        self.weight = nn.Parameter(torch.empty(self.n, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input_ids):
        ids = input_ids.to(self.weight.device)
        mask = (ids < self.start) | (ids >= self.end)
        local = (ids - self.start).masked_fill(mask, 0)
        out = F.embedding(local, self.weight).masked_fill(mask.unsqueeze(-1), 0.0)
        return out.to(input_ids.device)

    def reset_parameters(self):
        torch.manual_seed(self.seed)
        full = torch.empty(self.vocab_size, self.weight.shape[1], dtype=self.weight.dtype, device=self.weight.device)
        nn.init.normal_(full, self.init_mean, self.init_std)
        with torch.no_grad():
            self.weight.copy_(full[self.start:self.end])
