# Accepted: the scales kept as a [1, 1, ng, gz] parameter that broadcasts over [b, s, ng, gz];
# the normalised value is moved to the parameters' device, scaled there, and moved back.
import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size, group_size, eps=1e-5, init_range=(-1.0, 1.0), init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        assert hidden_size % group_size == 0, "hidden_size must be a multiple of group_size"
        self.h, self.gz, self.ng = hidden_size, group_size, hidden_size // group_size
        self.eps, self.init_range, self.init_seed = eps, init_range, init_seed
        self.gamma = nn.Parameter(torch.empty(1, 1, self.ng, self.gz, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input):
        b, s, h = input.shape
        x = input.view(b, s, self.ng, self.gz).float()
        x = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        y = x.to(self.gamma.device) * self.gamma
        return y.view(b, s, h).to(dtype=input.dtype, device=input.device)

    def reset_parameters(self):
        torch.manual_seed(self.init_seed)
        nn.init.uniform_(self.gamma, *self.init_range)
