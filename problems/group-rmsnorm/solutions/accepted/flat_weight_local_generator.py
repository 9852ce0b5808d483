# Accepted: a flat [h] weight drawn with a private generator seeded from init_seed on the
# weight's device (the same stream torch.manual_seed would give), float64 arithmetic, and
# 1 / sqrt(sum / gz + eps) instead of rsqrt(mean + eps).
import torch
import torch.nn as nn


class GroupRMSNorm(nn.Module):
    def __init__(self, hidden_size: int, group_size: int, eps: float = 1e-5,
                 init_range: tuple = (-1.0, 1.0), init_seed: int = 42,
                 dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        super().__init__()
        if hidden_size % group_size:
            raise ValueError("group_size must divide hidden_size")
        self.group_size = group_size
        self.eps = eps
        self.low, self.high = init_range
        self.init_seed = init_seed
        self.weight = nn.Parameter(torch.empty(hidden_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gen = torch.Generator(device=self.weight.device)
        gen.manual_seed(self.init_seed)
        with torch.no_grad():
            self.weight.uniform_(self.low, self.high, generator=gen)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        shape = input.shape
        x = input.double().reshape(*shape[:-1], -1, self.group_size)
        denom = torch.sqrt(x.square().sum(-1, keepdim=True) / self.group_size + self.eps)
        y = (x / denom).reshape(shape)
        y = y.to(self.weight.device) * self.weight.double()
        return y.to(device=input.device, dtype=input.dtype)
