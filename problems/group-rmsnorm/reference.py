"""Reference solution for `group-rmsnorm` (instructor only; never enters a student's sandbox)."""

import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(
        self,
        hidden_size: int,
        group_size: int,
        eps: float = 1e-5,
        init_range: tuple = (-1.0, 1.0),
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        if hidden_size % group_size != 0:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of group_size {group_size}")
        self.hidden_size = hidden_size
        self.group_size = group_size
        self.num_groups = hidden_size // group_size
        self.eps = eps
        self.init_range = init_range
        self.init_seed = init_seed
        # One scale per channel, laid out group by group: row g holds the scales of group g.
        self.weight = nn.Parameter(torch.empty(self.num_groups, group_size, dtype=dtype, device=device))
        self.reset_parameters()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        grouped = input.to(torch.float32).unflatten(-1, (self.num_groups, self.group_size))
        inv_rms = torch.rsqrt(grouped.square().mean(dim=-1, keepdim=True) + self.eps)
        # Normalised in float32 on the input's device, scaled on the parameter's device, and
        # rounded to the input's dtype once, at the very end.
        scaled = (grouped * inv_rms).to(self.weight.device) * self.weight
        return scaled.flatten(-2).to(device=input.device, dtype=input.dtype)

    def reset_parameters(self) -> None:
        # The global seed is set first, so the draw is the same whatever ran before; uniform_
        # draws on the parameter's device (the CUDA generator for a CUDA parameter).
        torch.manual_seed(self.init_seed)
        nn.init.uniform_(self.weight, self.init_range[0], self.init_range[1])
