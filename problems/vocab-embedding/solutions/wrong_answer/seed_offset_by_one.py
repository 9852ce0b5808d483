# Wrong answer: seeds with init_seed + 1, as if this were rank 1 of a parallel embedding.
import torch
import torch.nn as nn
import torch.nn.functional as F


class VocabEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size, init_mean=0.0, init_std=1.0, init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.init_mean, self.init_std, self.init_seed = init_mean, init_std, init_seed
        self.weight = nn.Parameter(torch.empty(vocab_size, emb_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input_ids):
        return self.weight[input_ids.to(self.weight.device)].to(input_ids.device)

    def reset_parameters(self):
        torch.manual_seed(self.init_seed + 1)
        nn.init.normal_(self.weight, self.init_mean, self.init_std)
