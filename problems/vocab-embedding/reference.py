"""Reference solution for `vocab-embedding` (instructor only; never enters a student's sandbox)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class VocabEmbedding(nn.Module):
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
        super().__init__()
        self.vocab_size = vocab_size
        self.emb_size = emb_size
        self.init_mean = init_mean
        self.init_std = init_std
        self.init_seed = init_seed
        self.weight = nn.Parameter(torch.empty(vocab_size, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Look up on the table's device (the ids are copied there, never changed in place) and
        # hand the rows back on the ids' device, in the table's dtype.
        rows = F.embedding(input_ids.to(self.weight.device), self.weight)
        return rows.to(input_ids.device)

    def reset_parameters(self) -> None:
        # Seeding the global generator first makes every reset draw the same table; normal_
        # draws on the table's device.
        torch.manual_seed(self.init_seed)
        nn.init.normal_(self.weight, mean=self.init_mean, std=self.init_std)
