"""Accepted: F.linear on the transposed course-layout weights, private torch.Generator objects
seeded like the course's seeds (the same draws as torch.manual_seed on that device), the
activation looked up by the enum's value, and F.dropout instead of an nn.Dropout module."""

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


def _activation(kind: MLPActivationType):
    name = kind.value
    if name == "bilinear":
        return lambda t: t
    if name == "sigmoid":
        return F.sigmoid
    return getattr(F, name)  # relu, gelu, silu


class DenseMLPWithLoRA(nn.Module):
    def __init__(self, hidden_size: int, ffh_size: int,
                 activation_type: MLPActivationType = MLPActivationType.SILU,
                 init_base_seed: int = 42, lora_rank: int = 0, lora_alpha: Optional[float] = None,
                 lora_dropout_rate: float = 0.0, lora_dropout_seed: int = 42,
                 lora_init_base_seed: int = 42, dtype: torch.dtype = torch.float32, device: str = "cpu"):
        super().__init__()
        self.cfg = dict(kind=activation_type, seed=init_base_seed, r=lora_rank,
                        alpha=lora_alpha if lora_alpha is not None else lora_rank,
                        p=lora_dropout_rate, dseed=lora_dropout_seed, lseed=lora_init_base_seed)
        self.dtype, self.device = dtype, torch.device(device)
        mk = lambda *s: nn.Parameter(torch.empty(s, dtype=dtype, device=device))
        self.up_proj, self.gate_proj, self.down_proj = mk(hidden_size, ffh_size), mk(hidden_size, ffh_size), mk(ffh_size, hidden_size)
        if lora_rank:
            self.lora_weight_A, self.lora_weight_B = mk(hidden_size, lora_rank), mk(lora_rank, hidden_size)
        self.reset_parameters()

    def _gen(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def reset_parameters(self):
        c = self.cfg
        xavier = c["kind"] in (MLPActivationType.SIGMOID, MLPActivationType.BILINEAR)
        for i, w in enumerate((self.up_proj, self.gate_proj, self.down_proj), start=1):
            if xavier:
                nn.init.xavier_normal_(w.t(), generator=self._gen(c["seed"] + i))
            else:
                nn.init.kaiming_normal_(w.t(), mode="fan_in", nonlinearity="relu", generator=self._gen(c["seed"] + i))
        if c["r"]:
            for i, w in enumerate((self.lora_weight_A, self.lora_weight_B), start=1):
                if xavier:
                    nn.init.xavier_uniform_(w.t(), generator=self._gen(c["lseed"] + i))
                else:
                    nn.init.kaiming_uniform_(w.t(), mode="fan_in", nonlinearity="relu", generator=self._gen(c["lseed"] + i))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        x = input.to(self.device, self.dtype)
        act = _activation(c["kind"])
        y = F.linear(act(F.linear(x, self.gate_proj.t())) * F.linear(x, self.up_proj.t()), self.down_proj.t())
        if c["r"]:
            delta = F.linear(F.linear(x, self.lora_weight_A.t()), self.lora_weight_B.t()) * (c["alpha"] / c["r"])
            torch.manual_seed(c["dseed"])
            y = y + F.dropout(delta, p=c["p"], training=True)
        return y.to(input.device, input.dtype)
