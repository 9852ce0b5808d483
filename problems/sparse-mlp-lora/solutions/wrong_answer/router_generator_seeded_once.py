"""Wrong: the router draws from a private torch.Generator seeded with init_base_seed once in
__init__ (the experts re-seed as they should). The router drawn when __init__ calls
reset_parameters() is the course's, so the first output is right; a later reset_parameters()
continues the generator's stream and draws another router, which the course's reset check (each
parameter compared with its copy taken just before reset_parameters()) rejects."""
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


_ACTIVATIONS = {
    MLPActivationType.RELU: F.relu,
    MLPActivationType.GELU: F.gelu,
    MLPActivationType.SILU: F.silu,
    MLPActivationType.SIGMOID: torch.sigmoid,
    MLPActivationType.BILINEAR: lambda t: t,
}


def _xavier_family(activation_type: MLPActivationType) -> bool:
    return activation_type in (MLPActivationType.SIGMOID, MLPActivationType.BILINEAR)


class DenseMLPWithLoRA(nn.Module):
    """GLU MLP (act(x Wg) * x Wu) Wd plus an optional dropout(alpha / r * x A B) LoRA branch."""

    def __init__(
        self,
        hidden_size: int,
        ffh_size: int,
        activation_type: MLPActivationType = MLPActivationType.SILU,
        init_base_seed: int = 42,
        lora_rank: int = 0,
        lora_alpha: Optional[float] = None,
        lora_dropout_rate: float = 0.0,
        lora_dropout_seed: int = 42,
        lora_init_base_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.hidden_size, self.ffh_size = hidden_size, ffh_size
        self.activation_type = activation_type
        self.init_base_seed = init_base_seed
        self.lora_rank = lora_rank
        self.lora_alpha = lora_rank if lora_alpha is None else lora_alpha
        self.lora_dropout_rate = lora_dropout_rate
        self.lora_dropout_seed = lora_dropout_seed
        self.lora_init_base_seed = lora_init_base_seed
        self.param_dtype, self.param_device = dtype, device
        self.act = _ACTIVATIONS[activation_type]

        def param(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(*shape, dtype=dtype, device=device))

        # The course's layout: x @ W, so W is [in, out] (transposed with respect to nn.Linear).
        self.up_proj = param(hidden_size, ffh_size)
        self.gate_proj = param(hidden_size, ffh_size)
        self.down_proj = param(ffh_size, hidden_size)
        if lora_rank > 0:
            self.lora_weight_A = param(hidden_size, lora_rank)
            self.lora_weight_B = param(lora_rank, hidden_size)
            self.lora_scale = self.lora_alpha / lora_rank
            self.lora_dropout = nn.Dropout(lora_dropout_rate)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Seeded initialisation; every call reproduces the same parameters."""
        xavier = _xavier_family(self.activation_type)
        if xavier:
            base_init, lora_init = nn.init.xavier_normal_, nn.init.xavier_uniform_
        else:
            def base_init(t):
                return nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu")

            def lora_init(t):
                return nn.init.kaiming_uniform_(t, mode="fan_in", nonlinearity="relu")

        # Each initialiser sees the transposed ([out, in], nn.Linear-like) view of its weight,
        # so fan_in is the input width; the values are drawn into that strided view.
        for offset, weight in ((1, self.up_proj), (2, self.gate_proj), (3, self.down_proj)):
            torch.manual_seed(self.init_base_seed + offset)
            base_init(weight.t())
        if self.lora_rank > 0:
            for offset, weight in ((1, self.lora_weight_A), (2, self.lora_weight_B)):
                torch.manual_seed(self.lora_init_base_seed + offset)
                lora_init(weight.t())

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """[b, s, h] -> [b, s, h], computed in the parameter dtype on the parameter device."""
        x = input.to(dtype=self.param_dtype, device=self.param_device)
        hidden = self.act(x @ self.gate_proj) * (x @ self.up_proj)
        out = hidden @ self.down_proj
        if self.lora_rank > 0:
            torch.manual_seed(self.lora_dropout_seed)  # the same mask on every call
            out = out + self.lora_dropout(self.lora_scale * (x @ self.lora_weight_A @ self.lora_weight_B))
        return out.to(dtype=input.dtype, device=input.device)


class SparseMLPWithLoRA(nn.Module):
    """Mixture of experts: a float32 router picks top-k of num_experts dense experts per token;
    this rank holds experts [rank * n_local, (rank + 1) * n_local) and computes only those."""

    def __init__(
        self,
        hidden_size: int,
        ffh_size: int,
        activation_type: MLPActivationType = MLPActivationType.SILU,
        num_experts: int = 1,
        moe_topk: int = 1,
        rank: int = 0,
        world_size: int = 1,
        process_group: Optional[ProcessGroup] = None,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        init_base_seed: int = 42,
        lora_rank: int = 0,
        lora_alpha: Optional[float] = None,
        lora_dropout_rate: float = 0.0,
        lora_dropout_seed: int = 42,
        lora_init_base_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        super().__init__()
        if ffh_size % num_experts or num_experts % world_size:
            raise ValueError("ffh_size must be divisible by num_experts, num_experts by world_size")
        if not 1 <= moe_topk <= num_experts or not 0 <= rank < world_size:
            raise ValueError("moe_topk must be in [1, num_experts] and rank in [0, world_size)")
        self.hidden_size, self.num_experts, self.moe_topk = hidden_size, num_experts, moe_topk
        self.init_mean, self.init_std, self.init_base_seed = init_mean, init_std, init_base_seed
        self.param_dtype, self.param_device = dtype, device
        n_local = num_experts // world_size
        self.first_expert = rank * n_local
        expert_size = ffh_size // num_experts
        # Expert i (a global index) offsets every one of its base seeds by i.
        self.experts = nn.ModuleList(
            DenseMLPWithLoRA(
                hidden_size=hidden_size,
                ffh_size=expert_size,
                activation_type=activation_type,
                init_base_seed=init_base_seed + i,
                lora_rank=lora_rank,
                lora_alpha=lora_alpha,
                lora_dropout_rate=lora_dropout_rate,
                lora_dropout_seed=lora_dropout_seed + i,
                lora_init_base_seed=lora_init_base_seed + i,
                dtype=dtype,
                device=device,
            )
            for i in range(self.first_expert, self.first_expert + n_local)
        )
        # The router stays float32 whatever `dtype` is: softmax is sensitive to rounding.
        self.gating = nn.Parameter(torch.empty(hidden_size, num_experts, dtype=torch.float32, device=device))
        self._router_gen = torch.Generator(device=device).manual_seed(init_base_seed)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for expert in self.experts:
            expert.reset_parameters()
        nn.init.normal_(self.gating, self.init_mean, self.init_std, generator=self._router_gen)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """[b, s, h] -> [b, s, h]: this rank's partial sum (zero rows for tokens it does not serve)."""
        b, s, h = input.shape
        x = input.to(dtype=self.param_dtype, device=self.param_device).reshape(b * s, h)
        probs = torch.softmax(x.to(torch.float32) @ self.gating, dim=-1)
        weights, chosen = torch.topk(probs, self.moe_topk, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(x)
        for local, expert in enumerate(self.experts):
            hit = chosen == self.first_expert + local  # [b*s, k], at most one True per row
            tokens = hit.any(dim=-1).nonzero().squeeze(-1)  # ascending token order
            if tokens.numel() == 0:
                continue
            w = (weights * hit).sum(dim=-1)[tokens].unsqueeze(-1)
            out.index_add_(0, tokens, (w * expert(x[tokens])).to(out.dtype))
        return out.reshape(b, s, h).to(dtype=input.dtype, device=input.device)
