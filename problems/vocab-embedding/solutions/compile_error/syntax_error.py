# Compile error: an unclosed parenthesis in forward.
import torch
import torch.nn as nn


class VocabEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size, init_mean=0.0, init_std=1.0, init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.init_mean, self.init_std, self.init_seed = init_mean, init_std, init_seed
        self.embedding = nn.Embedding(vocab_size, emb_size, dtype=dtype, device=device)
        self.reset_parameters()

    def reset_parameters(self):
        torch.manual_seed(self.init_seed)
        nn.init.normal_(self.embedding.weight, mean=self.init_mean, std=self.init_std)

    def forward(self, input_ids):
        return self.embedding(input_ids.to(self.embedding.weight.device)).to(input_ids.device
