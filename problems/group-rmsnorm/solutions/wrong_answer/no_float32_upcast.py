# Wrong answer: everything computed in the input dtype (bfloat16 rounds after every step).
import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size, group_size, eps=1e-5, init_range=(-1.0, 1.0), init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.ng, self.gz, self.eps = hidden_size // group_size, group_size, eps
        self.init_range, self.init_seed = init_range, init_seed
        self.weight = nn.Parameter(torch.empty(self.ng, self.gz, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input):
        b, s, h = input.shape
        x = input.view(b, s, self.ng, self.gz)
        x = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (x * self.weight.to(input.dtype)).view(b, s, h)

    def reset_parameters(self):
        torch.manual_seed(self.init_seed)
        nn.init.uniform_(self.weight, *self.init_range)

