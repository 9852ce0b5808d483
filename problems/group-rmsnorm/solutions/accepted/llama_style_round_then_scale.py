# Accepted: normalise in float32, round to the input's dtype, then multiply by the float32 scale
# and round again (Hugging Face's Llama order); within the bfloat16 tolerance.
import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size, group_size, eps=1e-5, init_range=(-1.0, 1.0), init_seed=42,
                 dtype=torch.float32, device="cpu"):
        super().__init__()
        self.group_size, self.eps = group_size, eps
        self.init_range, self.init_seed = init_range, init_seed
        self.weight = nn.Parameter(torch.ones(hidden_size // group_size, group_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        torch.manual_seed(self.init_seed)
        torch.nn.init.uniform_(self.weight, a=self.init_range[0], b=self.init_range[1])

    def forward(self, input):
        dtype, device = input.dtype, input.device
        hidden = input.to(torch.float32).unflatten(-1, self.weight.shape)
        variance = hidden.pow(2).mean(-1, keepdim=True)
        hidden = (hidden * torch.rsqrt(variance + self.eps)).to(dtype)
        out = self.weight * hidden.to(self.weight.device)
        return out.flatten(-2).to(device=device, dtype=dtype)
