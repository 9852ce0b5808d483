"""The student's own GroupRMSNorm (A1), wrong: the RMS is taken over the whole hidden vector
(all heads at once) instead of over each group; only the scales are per group."""

import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size, group_size=None, eps=1e-5, init_range=(-1.0, 1.0), init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.hidden_size = hidden_size
        self.group_size = group_size or hidden_size
        self.eps = eps
        self.init_range = init_range
        self.init_seed = init_seed
        n = hidden_size // self.group_size
        self.weight = nn.Parameter(torch.empty(1, 1, n, self.group_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        torch.manual_seed(self.init_seed)
        nn.init.uniform_(self.weight, self.init_range[0], self.init_range[1])

    def forward(self, x):
        b, s, h = x.shape
        g = x.float() / torch.sqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        g = g.reshape(b, s, -1, self.group_size)
        out = g.to(self.weight.device) * self.weight
        return out.reshape(b, s, h).to(device=x.device, dtype=x.dtype)
