"""Wrong: this student's GroupRMSNorm takes the RMS over the whole hidden size instead of
over each group of group_size channels (the scales are still one per channel)."""

from typing import Optional

import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, group_size: Optional[int] = None, eps: float = 1e-5,
                 init_range: tuple = (-1.0, 1.0), init_seed: int = 42,
                 dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        super().__init__()
        self.hidden_size, self.group_size = hidden_size, group_size or hidden_size
        self.eps, self.init_range, self.init_seed = eps, init_range, init_seed
        self.weight = nn.Parameter(torch.empty(hidden_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x = input.float()
        x = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps)
        return (x.to(self.weight.device) * self.weight).to(dtype=input.dtype, device=input.device)

    def reset_parameters(self) -> None:
        torch.manual_seed(self.init_seed)
        nn.init.uniform_(self.weight, *self.init_range)
