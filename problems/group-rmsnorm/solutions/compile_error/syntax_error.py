# Compile error: a missing colon after the for statement.
import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size, group_size, eps=1e-5, init_range=(-1.0, 1.0), init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.hidden_size, self.group_size, self.eps = hidden_size, group_size, eps
        self.init_range, self.init_seed = init_range, init_seed
        self.weight = nn.Parameter(torch.empty(hidden_size // group_size, group_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        torch.manual_seed(self.init_seed)
        nn.init.uniform_(self.weight, self.init_range[0], self.init_range[1])

    def forward(self, input):
        x = input.float()
        pieces = []
        for g in range(self.hidden_size // self.group_size)
            part = x[..., g * self.group_size:(g + 1) * self.group_size]
            rms = torch.sqrt(torch.mean(part * part, dim=-1, keepdim=True) + self.eps)
            pieces.append((part / rms).to(self.weight.device) * self.weight[g])
        return torch.cat(pieces, dim=-1).to(input.device).to(input.dtype)
