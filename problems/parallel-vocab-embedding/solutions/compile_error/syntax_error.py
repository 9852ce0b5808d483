# Compile error: "=" instead of "==" inside an expression.
import torch
import torch.nn as nn


class ParallelVocabEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size, rank=0, world_size=1, process_group=None,
                 init_mean=0.0, init_std=1.0, init_base_seed=42, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.vocab_size, self.emb_size, self.rank, self.world_size = vocab_size, emb_size, rank, world_size
        self.init_mean, self.init_std, self.init_base_seed = init_mean, init_std, init_base_seed
        self.part = vocab_size // world_size
        self.weight = nn.Parameter(torch.empty(self.part, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        torch.manual_seed(self.init_base_seed + self.rank)
        torch.nn.init.normal_(self.weight, mean=self.init_mean, std=self.init_std)

    def forward(self, input_ids):
        ids = input_ids.to(self.weight.device)
        local = ids - self.rank * self.part
        keep = (local >= 0) & (local = self.part)
        out = torch.zeros(*ids.shape, self.emb_size, dtype=self.weight.dtype, device=self.weight.device)
        out[keep] = self.weight[local[keep]]
        return out.to(input_ids.device)
