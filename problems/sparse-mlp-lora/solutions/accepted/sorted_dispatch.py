"""Accepted: a grouped dispatch. Every (token, slot) pair whose expert is local is kept, the pairs
are stably sorted by expert (so each expert's tokens stay in ascending order), split into one
contiguous group per expert, and the weighted results are scattered back with index_add_. The
dense expert keeps nn.Linear-layout weights drawn through transposed scratch tensors."""

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


_ACT = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu, "sigmoid": torch.sigmoid, "bilinear": lambda t: t}


class DenseMLPWithLoRA(nn.Module):
    def __init__(self, hidden_size, ffh_size, activation_type=MLPActivationType.SILU, init_base_seed=42,
                 lora_rank=0, lora_alpha=None, lora_dropout_rate=0.0, lora_dropout_seed=42,
                 lora_init_base_seed=42, dtype=torch.float32, device="cpu"):
        super().__init__()
        self.kind, self.seed, self.lseed, self.dseed = activation_type, init_base_seed, lora_init_base_seed, lora_dropout_seed
        self.r, self.p = lora_rank, lora_dropout_rate
        self.scale = ((lora_alpha or lora_rank) / lora_rank) if lora_rank else 0.0
        self.dtype, self.device = dtype, device
        lin = lambda i, o: nn.Linear(i, o, bias=False, dtype=dtype, device=device)
        self.up, self.gate, self.down = lin(hidden_size, ffh_size), lin(hidden_size, ffh_size), lin(ffh_size, hidden_size)
        if lora_rank:
            self.lora_a, self.lora_b = lin(hidden_size, lora_rank), lin(lora_rank, hidden_size)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        xavier = self.kind.value in ("sigmoid", "bilinear")
        base = nn.init.xavier_normal_ if xavier else (lambda t: nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu"))
        lora = nn.init.xavier_uniform_ if xavier else (lambda t: nn.init.kaiming_uniform_(t, mode="fan_in", nonlinearity="relu"))
        jobs = [(self.up, self.seed + 1, base), (self.gate, self.seed + 2, base), (self.down, self.seed + 3, base)]
        if self.r:
            jobs += [(self.lora_a, self.lseed + 1, lora), (self.lora_b, self.lseed + 2, lora)]
        for layer, seed, fn in jobs:
            course_layout = torch.empty(layer.in_features, layer.out_features, dtype=self.dtype, device=self.device)
            torch.manual_seed(seed)
            fn(course_layout.t())
            layer.weight.copy_(course_layout.t())

    def forward(self, input):
        x = input.to(self.dtype).to(self.device)
        y = self.down(_ACT[self.kind.value](self.gate(x)) * self.up(x))
        if self.r:
            torch.manual_seed(self.dseed)
            y = y + F.dropout(self.scale * self.lora_b(self.lora_a(x)), self.p, True)
        return y.to(input.dtype).to(input.device)


class SparseMLPWithLoRA(nn.Module):
    def __init__(self, hidden_size, ffh_size, activation_type=MLPActivationType.SILU, num_experts=1,
                 moe_topk=1, rank=0, world_size=1, process_group=None, init_mean=0.0, init_std=1.0,
                 init_base_seed=42, lora_rank=0, lora_alpha=None, lora_dropout_rate=0.0,
                 lora_dropout_seed=42, lora_init_base_seed=42, dtype=torch.float32, device="cpu"):
        super().__init__()
        if ffh_size % num_experts:
            raise ValueError("ffh_size must be divisible by num_experts")
        self.k, self.mean, self.std, self.seed = moe_topk, init_mean, init_std, init_base_seed
        self.dtype, self.device = dtype, device
        n = num_experts // world_size
        self.offset = rank * n
        self.experts = nn.ModuleList([
            DenseMLPWithLoRA(hidden_size, ffh_size // num_experts, activation_type, init_base_seed + e, lora_rank,
                             lora_alpha, lora_dropout_rate, lora_dropout_seed + e, lora_init_base_seed + e,
                             dtype, device)
            for e in range(rank * n, rank * n + n)
        ])
        self.gate_weight = nn.Parameter(torch.empty(hidden_size, num_experts, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        for e in self.experts:
            e.reset_parameters()
        torch.manual_seed(self.seed)
        with torch.no_grad():
            self.gate_weight.normal_(self.mean, self.std)

    def forward(self, input):
        b, s, h = input.shape
        x = input.to(self.dtype).to(self.device).reshape(-1, h)
        probs = torch.softmax(torch.matmul(x.float(), self.gate_weight), dim=-1)
        w, idx = torch.topk(probs, self.k, dim=-1)
        w = w / w.sum(-1, keepdim=True)
        token = torch.arange(x.shape[0], device=x.device).repeat_interleave(self.k)
        expert = idx.reshape(-1) - self.offset
        weight = w.reshape(-1)
        keep = (expert >= 0) & (expert < len(self.experts))
        token, expert, weight = token[keep], expert[keep], weight[keep]
        order = torch.sort(expert, stable=True).indices
        token, expert, weight = token[order], expert[order], weight[order]
        counts = torch.bincount(expert, minlength=len(self.experts)).tolist()
        out = torch.zeros_like(x)
        for e, tok, wt in zip(range(len(self.experts)), token.split(counts), weight.split(counts)):
            if tok.numel():
                out.index_add_(0, tok, wt[:, None] * self.experts[e](x[tok]))
        return out.reshape(b, s, h).to(input.dtype).to(input.device)
