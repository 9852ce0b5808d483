# Accepted: a private generator on the table's device seeded with init_seed (the same stream as
# torch.manual_seed), the table filled in place, rows gathered with index_select.
import torch
import torch.nn as nn


class VocabEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size: int, init_mean: float = 0.0, init_std: float = 1.0,
                 init_seed: int = 42, dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        super().__init__()
        self.mean, self.std, self.seed = init_mean, init_std, init_seed
        self.table = nn.Parameter(torch.zeros(vocab_size, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        g = torch.Generator(device=self.table.device).manual_seed(self.seed)
        with torch.no_grad():
            self.table.normal_(self.mean, self.std, generator=g)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        flat = input_ids.reshape(-1).to(self.table.device)
        rows = self.table.index_select(0, flat)
        return rows.reshape(*input_ids.shape, self.table.shape[1]).to(input_ids.device)
