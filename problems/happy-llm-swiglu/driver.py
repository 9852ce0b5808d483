"""Driver for `happy-llm-swiglu`: the same code runs the reference and the submission.

Each case builds one MLP(dim=, hidden_dim=, multiple_of=, dropout=), by keyword as the chapter's
DecoderLayer does or positionally as its text does, moves it to the case's device (eval mode when
the case says so) and returns:

* weight_shapes: the shapes of w1.weight, w2.weight and w3.weight as built (so the hidden size,
  given or derived from dim and multiple_of, is compared);
* parameter_count: how many parameters the module has (the chapter's three bias-free weights);
* then the three weights get seeded values (when their shapes are the expected ones), and twice,
  on a fresh leaf copy of the input: output, and (when the case has grads) the gradients of
  sum(output * upstream) with respect to the input and the three weights.
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit

LAYERS = ("w1", "w2", "w3")


@dataclass(frozen=True)
class Params:
    b: int
    s: int
    dim: int
    hidden_dim: int | None = None  # None (omitted): the chapter's rule derives it from dim and multiple_of
    multiple_of: int = 64
    dropout: float = 0.0
    eval: bool = False
    call: Literal["keyword", "positional"] = "keyword"
    grads: bool = True


def hidden_size(p: Params) -> int:
    """The hidden size the module must have (the chapter's rule when hidden_dim is None)."""
    if p.hidden_dim is not None:
        return p.hidden_dim
    h = int(2 * (4 * p.dim) / 3)
    return p.multiple_of * ((h + p.multiple_of - 1) // p.multiple_of)


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    h = hidden_size(p)
    inputs = {
        "x": r.randn(p.b, p.s, p.dim, draw=torch.float32),
        # nn.Linear's own scale (1/sqrt(fan_in)) keeps the activations of order one
        "w1_weight": r.randn(h, p.dim, scale=1 / math.sqrt(p.dim), draw=torch.float32),
        "w2_weight": r.randn(p.dim, h, scale=1 / math.sqrt(h), draw=torch.float32),
        "w3_weight": r.randn(h, p.dim, scale=1 / math.sqrt(p.dim), draw=torch.float32),
    }
    if p.grads:
        inputs["upstream"] = r.randn(p.b, p.s, p.dim, draw=torch.float32)
    return inputs


def _weight(module, name: str) -> torch.Tensor:
    layer = kit.attr(module, name, "MLP")
    return kit.tensor(kit.attr(layer, "weight", f"MLP.{name}"), f"MLP.{name}.weight")


def _build(sub, case, inputs: dict):
    p = kit.params(Params, case)
    if p.call == "keyword":
        module = sub.MLP(dim=p.dim, hidden_dim=p.hidden_dim, multiple_of=p.multiple_of, dropout=p.dropout)
    else:
        module = sub.MLP(p.dim, p.hidden_dim, p.multiple_of, p.dropout)
    kit.instance(module, torch.nn.Module, "MLP(dim, hidden_dim, multiple_of, dropout)")
    module = module.to(case.device)  # the chapter builds on the CPU and moves the model
    if p.eval:
        module.eval()
    shapes = [int(n) for name in LAYERS for n in _weight(module, name).shape]
    with torch.no_grad():
        for name in LAYERS:
            w = _weight(module, name)
            if w.shape == inputs[f"{name}_weight"].shape:  # a wrong shape shows in weight_shapes
                w.copy_(inputs[f"{name}_weight"])
    return module, shapes


def _step(module, inputs: dict, grads: bool) -> dict:
    x = inputs["x"].detach().clone().requires_grad_(grads)
    out = kit.tensor(module(x), "MLP.forward's result")
    if not grads:
        return {"output": out}
    wrt = [x] + [_weight(module, name) for name in LAYERS]
    got = kit.grads(out, inputs["upstream"], wrt)  # zeros where the output does not depend
    names = ("output", "grad_input", "grad_w1", "grad_w2", "grad_w3")
    return dict(zip(names, [out, *got], strict=True))


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    module, shapes = _build(sub, case, inputs)
    outs = {"weight_shapes": kit.ints(shapes, case),
            "parameter_count": kit.ints(len(list(module.parameters())), case)}
    outs.update(kit.call_twice(lambda: _step(module, inputs, p.grads), lambda got, _which: got))
    return outs


def timed(sub, inputs: dict, case):
    # The module is built once, outside the timed region; one forward (no gradients) is timed.
    module, _ = _build(sub, case, inputs)
    x = inputs["x"]
    return lambda: module(x)
