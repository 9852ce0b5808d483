"""Driver for `sparse-mlp-lora`: the same code runs the reference and the submission.

For every rank listed (default: every rank of the world), one SparseMLPWithLoRA is built the
way the course's grader builds it (every argument by keyword, no process group, the activation
from the submission's own MLPActivationType, float32 parameters on the case's device), and each
module gets what the course's grader gives its module:

* `rank<r>`: the module applied ONCE to a standard-normal input [b, s, h] (dtype: the case's;
  device: the case's, or the CPU with input_device = "cpu");
* `rank<r>_reset_changed_params` (reset = true): the course's reset check on that module, after
  that call, as in dense-mlp-lora's driver: for each named parameter in turn, copy it, call
  reset_parameters(), compare the parameter of that name with the copy (atol = rtol = 1e-5);
  the output is the number that fail (the reference's: 0). A no-op reset and a re-seeded one
  pass, one that draws without re-seeding fails. Nothing is overwritten, forward is not called
  again.

With full = true, the world_size = 1 module is built too (a module of its own, one call:
`full`) and, for float32 inputs, `rank_sum` (the float32 sum of the listed ranks' outputs: with
every rank listed it is the full output, up to rounding).
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit


@dataclass(frozen=True)
class Params:
    b: int  # input [b, s, h]
    s: int
    h: int
    ffh: int  # each expert is ffh // ne wide
    ne: int  # num_experts
    k: int  # moe_topk
    world_size: int = 1
    ranks: tuple[int, ...] | None = None  # None: every rank of the world
    activation: Literal["relu", "gelu", "silu", "sigmoid", "bilinear"] = "silu"
    init_mean: float = 0.0
    init_std: float = 1.0
    lora_rank: int = 0  # in [0, min(h, ffh // ne)]
    lora_alpha: float | None = None
    dropout: float = 0.0  # lora_dropout_rate, in [0, 1)
    init_base_seed: int = 42
    lora_init_base_seed: int = 42
    lora_dropout_seed: int = 42
    input_device: Literal["case", "cpu"] = "case"  # as in dense-mlp-lora
    full: bool = False
    reset: bool = True

    def __post_init__(self) -> None:
        kit.require(min(self.b, self.s, self.h, self.ffh, self.ne, self.k, self.world_size) > 0, "sizes must be > 0")
        kit.require(self.ffh % self.ne == 0 and self.ne % self.world_size == 0,  # the course's domain
                    "ffh must be divisible by ne, and ne by world_size")
        kit.require(self.k <= self.ne, "k must be in [1, ne]")
        kit.require(self.ranks is None or all(0 <= r < self.world_size for r in self.ranks),
                    "ranks must be in [0, world_size)")
        kit.require(0 <= self.lora_rank <= min(self.h, self.ffh // self.ne), "lora_rank must be in [0, min(h, ffh/ne)]")
        kit.require(0.0 <= self.dropout < 1.0 and self.init_std > 0, "dropout must be in [0, 1) and init_std positive")
        kit.require(self.lora_alpha is None or self.lora_alpha > 0, "lora_alpha must be positive")


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    x = r.randn(p.b, p.s, p.h, draw=torch.float32, place=False)
    device = "cpu" if p.input_device == "cpu" else case.device
    return {"input": x.to(device=device, dtype=case.dtype)}


def _build(sub, case, rank: int, world_size: int):
    p = kit.params(Params, case)
    module = sub.SparseMLPWithLoRA(
        hidden_size=p.h,
        ffh_size=p.ffh,
        activation_type=kit.attr(sub.MLPActivationType, p.activation.upper(), "MLPActivationType"),
        num_experts=p.ne,
        moe_topk=p.k,
        rank=rank,
        world_size=world_size,
        init_mean=p.init_mean,
        init_std=p.init_std,
        init_base_seed=p.init_base_seed,
        lora_rank=p.lora_rank,
        lora_alpha=p.lora_alpha,
        lora_dropout_rate=p.dropout,
        lora_dropout_seed=p.lora_dropout_seed,
        lora_init_base_seed=p.lora_init_base_seed,
        dtype=torch.float32,
        device=case.device,
    )
    return kit.instance(module, torch.nn.Module, "SparseMLPWithLoRA(...)")


def _ranks(p: Params) -> tuple[int, ...]:
    return tuple(range(p.world_size)) if p.ranks is None else p.ranks


def _forward(module, x, what: str) -> torch.Tensor:
    return kit.snap(kit.tensor(module(x), f"SparseMLPWithLoRA.forward's result ({what})"))


def run(sub, inputs: dict, case) -> dict:
    p, x = kit.params(Params, case), inputs["input"]
    res: dict = {}
    for rank in _ranks(p):
        module = _build(sub, case, rank, p.world_size)
        res[f"rank{rank}"] = _forward(module, x, f"rank {rank}")
        if p.reset:
            kit.attr(module, "reset_parameters", "SparseMLPWithLoRA")
            res[f"rank{rank}_reset_changed_params"] = kit.ints(kit.reset_check(module), case)
        del module
    if p.full:
        res["full"] = _forward(_build(sub, case, 0, 1), x, "world_size = 1")
        if case.dtype == torch.float32:
            res["rank_sum"] = torch.stack([res[f"rank{r}"] for r in _ranks(p)]).sum(dim=0)
    return res


def timed(sub, inputs: dict, case):
    p = kit.params(Params, case)
    module, x = _build(sub, case, _ranks(p)[0], p.world_size), inputs["input"]  # built outside
    return lambda: module(x)
