"""Accepted: the weights are stored the nn.Linear way ([out, in]) and applied with x @ W.T.
Their values are still the course's: each is drawn into the transposed view of a scratch
[in, out] tensor (the course's layout) and then copied over, so the draws land where the
course's do. The LoRA branch multiplies A and B first (x @ (A B)), another association."""

from enum import Enum
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLPActivationType(Enum):
    RELU = "relu"
    GELU = "gelu"
    SILU = "silu"
    SIGMOID = "sigmoid"
    BILINEAR = "bilinear"


class DenseMLPWithLoRA(nn.Module):
    def __init__(self, hidden_size: int, ffh_size: int,
                 activation_type: MLPActivationType = MLPActivationType.SILU,
                 init_base_seed: int = 42, lora_rank: int = 0, lora_alpha: Optional[float] = None,
                 lora_dropout_rate: float = 0.0, lora_dropout_seed: int = 42,
                 lora_init_base_seed: int = 42, dtype: torch.dtype = torch.float32, device: str = "cpu"):
        super().__init__()
        self.h, self.f, self.kind = hidden_size, ffh_size, activation_type
        self.seed, self.lseed, self.dseed = init_base_seed, lora_init_base_seed, lora_dropout_seed
        self.rank = lora_rank
        self.scaling = (lora_alpha if lora_alpha is not None else lora_rank) / lora_rank if lora_rank else 0.0
        self.dropout = nn.Dropout(lora_dropout_rate)
        self.dtype, self.device = dtype, device
        # [out, in] as nn.Linear keeps them
        self.w_up = nn.Parameter(torch.empty(ffh_size, hidden_size, dtype=dtype, device=device))
        self.w_gate = nn.Parameter(torch.empty(ffh_size, hidden_size, dtype=dtype, device=device))
        self.w_down = nn.Parameter(torch.empty(hidden_size, ffh_size, dtype=dtype, device=device))
        if lora_rank:
            self.a = nn.Parameter(torch.empty(lora_rank, hidden_size, dtype=dtype, device=device))
            self.b = nn.Parameter(torch.empty(hidden_size, lora_rank, dtype=dtype, device=device))
        self.reset_parameters()

    @torch.no_grad()
    def _draw(self, target: nn.Parameter, seed: int, fn) -> None:
        scratch = torch.empty(target.shape[1], target.shape[0], dtype=self.dtype, device=self.device)
        torch.manual_seed(seed)
        fn(scratch.t())
        target.copy_(scratch.t())

    def reset_parameters(self):
        if self.kind in (MLPActivationType.SIGMOID, MLPActivationType.BILINEAR):
            base, lora = nn.init.xavier_normal_, nn.init.xavier_uniform_
        else:
            base = lambda t: nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu")
            lora = lambda t: nn.init.kaiming_uniform_(t, mode="fan_in", nonlinearity="relu")
        self._draw(self.w_up, self.seed + 1, base)
        self._draw(self.w_gate, self.seed + 2, base)
        self._draw(self.w_down, self.seed + 3, base)
        if self.rank:
            self._draw(self.a, self.lseed + 1, lora)
            self._draw(self.b, self.lseed + 2, lora)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x = input.to(dtype=self.dtype, device=self.device)
        g = x @ self.w_gate.T
        if self.kind is MLPActivationType.RELU:
            g = torch.relu(g)
        elif self.kind is MLPActivationType.GELU:
            g = F.gelu(g)
        elif self.kind is MLPActivationType.SILU:
            g = g * torch.sigmoid(g)
        elif self.kind is MLPActivationType.SIGMOID:
            g = torch.sigmoid(g)
        out = (g * (x @ self.w_up.T)) @ self.w_down.T
        if self.rank:
            delta = self.scaling * (x @ (self.a.T @ self.b.T))
            torch.manual_seed(self.dseed)
            out = out + self.dropout(delta)
        return out.to(dtype=input.dtype, device=input.device)
