"""Accepted: the whole course file as a student would have it (enum, dense expert, sparse MLP),
written another way: a Mixtral-style dispatch from a one-hot [tokens, k, experts] mask (token-
major, so every expert sees its tokens in ascending order), F.linear for the router, the
weights gathered per slot, and a dense expert built on private generators and F.dropout."""

from enum import Enum
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed import ProcessGroup


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


class SparseMLPWithLoRA(nn.Module):
    def __init__(self, hidden_size: int, ffh_size: int,
                 activation_type: MLPActivationType = MLPActivationType.SILU,
                 num_experts: int = 1, moe_topk: int = 1, rank: int = 0, world_size: int = 1,
                 process_group: Optional[ProcessGroup] = None, init_mean: float = 0.0,
                 init_std: float = 1.0, init_base_seed: int = 42, lora_rank: int = 0,
                 lora_alpha: Optional[float] = None, lora_dropout_rate: float = 0.0,
                 lora_dropout_seed: int = 42, lora_init_base_seed: int = 42,
                 dtype: torch.dtype = torch.float32, device: str = "cpu"):
        super().__init__()
        assert ffh_size % num_experts == 0 and num_experts % world_size == 0
        self.ne, self.k = num_experts, moe_topk
        self.mean, self.std, self.seed = init_mean, init_std, init_base_seed
        self.dtype, self.device = dtype, device
        per_rank = num_experts // world_size
        self.lo, self.hi = rank * per_rank, (rank + 1) * per_rank
        self.local = nn.ModuleDict({
            str(g): DenseMLPWithLoRA(hidden_size=hidden_size, ffh_size=ffh_size // num_experts,
                                     activation_type=activation_type, init_base_seed=init_base_seed + g,
                                     lora_rank=lora_rank, lora_alpha=lora_alpha,
                                     lora_dropout_rate=lora_dropout_rate,
                                     lora_dropout_seed=lora_dropout_seed + g,
                                     lora_init_base_seed=lora_init_base_seed + g,
                                     dtype=dtype, device=device)
            for g in range(self.lo, self.hi)
        })
        self.router = nn.Parameter(torch.empty(hidden_size, num_experts, dtype=torch.float32, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        torch.manual_seed(self.seed)
        nn.init.normal_(self.router, mean=self.mean, std=self.std)
        for expert in self.local.values():
            expert.reset_parameters()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        shape = input.shape
        x = input.to(self.device, self.dtype).flatten(0, -2)
        probs = F.linear(x.float(), self.router.t()).softmax(dim=-1)
        top_p, top_i = probs.topk(self.k, dim=-1)
        top_p = top_p / top_p.sum(-1, keepdim=True)
        mask = F.one_hot(top_i, self.ne)  # [T, k, ne]
        y = x.new_zeros(x.shape)
        for g in range(self.lo, self.hi):
            token, slot = torch.where(mask[:, :, g] > 0)  # row-major: tokens ascending
            if token.numel():
                y[token] += top_p[token, slot, None] * self.local[str(g)](x[token])
        return y.view(shape).to(input.device, input.dtype)
