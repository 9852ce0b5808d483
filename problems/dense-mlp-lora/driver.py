"""Driver for `dense-mlp-lora`: the same code runs the reference and the submission.

Each case does what the course's grader does with the submission's module: one
DenseMLPWithLoRA is built the way the grader builds it (every argument by keyword, the
activation taken from the submission's own MLPActivationType enum, float32 parameters on the
parameter device), then:

* `output`: the module applied ONCE to a standard-normal input [b, s, h] (dtype: the case's;
  device: the case's, or the CPU with input_device = "cpu");
* `reset_changed_params` (reset = true): the course's reset check on that same module, after
  that call: for each of its named parameters in turn, the parameter is copied,
  reset_parameters() is called, and the parameter of that name must still equal the copy
  (same shape, dtype and device; values within the course's atol = rtol = 1e-5). The output is
  the number of parameters that fail (the reference's: 0). So a reset that re-draws from the
  seeds passes, and so does one that leaves the parameters alone (as in the course); a reset
  that draws without re-seeding fails. Nothing is overwritten and forward is not called again.
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
    ffh: int
    activation: Literal["relu", "gelu", "silu", "sigmoid", "bilinear"] = "silu"
    lora_rank: int = 0  # in [0, min(h, ffh)]
    lora_alpha: float | None = None
    dropout: float = 0.0  # lora_dropout_rate, in [0, 1)
    init_base_seed: int = 42
    lora_init_base_seed: int = 42
    lora_dropout_seed: int = 42
    # where the input lives: the case's device, or the CPU while the parameters are on the
    # case's device (the course's own mixed case: bfloat16 input on the CPU, parameters on CUDA)
    input_device: Literal["case", "cpu"] = "case"
    # keyword: every argument by keyword, as the course's grader; defaults: only hidden_size=,
    # ffh_size=, dtype= and device= (the template's defaults for the rest)
    call: Literal["keyword", "defaults"] = "keyword"
    reset: bool = True

    def __post_init__(self) -> None:
        kit.require(min(self.b, self.s, self.h, self.ffh) >= 1, "b, s, h and ffh must be positive")
        kit.require(0 <= self.lora_rank <= min(self.h, self.ffh), "lora_rank must be in [0, min(h, ffh)]")
        kit.require(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        kit.require(self.lora_alpha is None or self.lora_alpha > 0, "lora_alpha must be positive")
        defaults = (self.activation, self.lora_rank, self.init_base_seed) == ("silu", 0, 42)
        kit.require(self.call != "defaults" or defaults, "call='defaults' needs the default settings")


def _input_device(p: Params, case) -> str:
    return "cpu" if p.input_device == "cpu" else case.device


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    x = r.randn(p.b, p.s, p.h, draw=torch.float32, place=False)
    return {"input": x.to(device=_input_device(p, case), dtype=case.dtype)}


def _build(sub, case):
    p = kit.params(Params, case)
    if p.call == "defaults":
        module = sub.DenseMLPWithLoRA(hidden_size=p.h, ffh_size=p.ffh, dtype=torch.float32, device=case.device)
    else:
        activation = kit.attr(sub.MLPActivationType, p.activation.upper(), "MLPActivationType")
        module = sub.DenseMLPWithLoRA(
            hidden_size=p.h,
            ffh_size=p.ffh,
            activation_type=activation,
            init_base_seed=p.init_base_seed,
            lora_rank=p.lora_rank,
            lora_alpha=p.lora_alpha,
            lora_dropout_rate=p.dropout,
            lora_dropout_seed=p.lora_dropout_seed,
            lora_init_base_seed=p.lora_init_base_seed,
            dtype=torch.float32,
            device=case.device,
        )
    return kit.instance(module, torch.nn.Module, "DenseMLPWithLoRA(...)")


def run(sub, inputs: dict, case) -> dict:
    p, x = kit.params(Params, case), inputs["input"]
    module = _build(sub, case)
    res = {"output": kit.snap(kit.tensor(module(x), "DenseMLPWithLoRA.forward's result"))}
    if p.reset:
        kit.attr(module, "reset_parameters", "DenseMLPWithLoRA")
        res["reset_changed_params"] = kit.ints(kit.reset_check(module), case)
    return res


def timed(sub, inputs: dict, case):
    module, x = _build(sub, case), inputs["input"]  # built once, outside the timed region
    return lambda: module(x)
