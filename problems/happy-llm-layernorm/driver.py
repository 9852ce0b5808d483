"""Driver for `happy-llm-layernorm`: the same code runs the reference and the submission.

Each case builds one LayerNorm as the tutorial does (`LayerNorm(features)`, or
`LayerNorm(features, eps=...)` when the case sets eps) and returns:

* a_2_init / b_2_init: the parameters as constructed (ones and zeros), read by name;
* parameter_count: how many parameters the module registers (the tutorial's two);
* then a_2 and b_2 are overwritten with seeded values (so a module that ignores either, or
  keeps them under other names, gives other outputs), and twice in a row, on a fresh leaf copy
  of the input: output, and the gradients of sum(output * upstream) with respect to the input,
  a_2 and b_2 (grad_input, grad_a_2, grad_b_2); the second call's results end in _second_call.
"""

from dataclasses import dataclass

import torch

from sandbox import kit


@dataclass(frozen=True)
class Params:
    shape: tuple[int, ...]        # the input's shape; the last entry is `features`
    eps: float | None = None      # None: LayerNorm(features), the tutorial's default eps
    scale: float = 1.0            # input = scale * N(0, 1) + shift
    shift: float = 0.0
    grads: bool = True


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    kit.require(p.shape[-1] >= 2, f"case {case.name}: features must be >= 2 (one value has no unbiased std)")
    features = p.shape[-1]
    x = r.randn(*p.shape, scale=p.scale, draw=torch.float32, place=False) + p.shift
    inputs = {
        "x": r.place(x),
        "a_2": r.rand(features, low=0.5, high=1.5, draw=torch.float32),
        "b_2": r.randn(features, draw=torch.float32),
    }
    if p.grads:
        inputs["upstream"] = r.randn(*p.shape, draw=torch.float32)
    return inputs


def _build(sub, case):
    p = kit.params(Params, case)
    features = p.shape[-1]
    module = sub.LayerNorm(features) if p.eps is None else sub.LayerNorm(features, eps=p.eps)
    kit.instance(module, torch.nn.Module, "LayerNorm(...)")
    return module.to(case.device)  # the tutorial builds on the CPU and moves the model


def _param(module, name: str) -> torch.Tensor:
    return kit.tensor(kit.attr(module, name, "LayerNorm"), f"LayerNorm.{name}")


def _step(module, inputs: dict, grads: bool) -> dict:
    x = inputs["x"].detach().clone().requires_grad_(grads)
    out = kit.tensor(module(x), "LayerNorm.forward's result", shape=x.shape)
    if not grads:
        return {"output": out}
    a_2, b_2 = _param(module, "a_2"), _param(module, "b_2")
    g_x, g_a, g_b = kit.grads(out, inputs["upstream"], (x, a_2, b_2))  # zeros where unused
    return {"output": out, "grad_input": g_x, "grad_a_2": g_a, "grad_b_2": g_b}


def run(sub, inputs: dict, case) -> dict:
    p = kit.params(Params, case)
    module = _build(sub, case)
    outs = {"a_2_init": kit.snap(_param(module, "a_2")), "b_2_init": kit.snap(_param(module, "b_2")),
            "parameter_count": kit.ints(len(list(module.parameters())), case)}
    with torch.no_grad():
        _param(module, "a_2").copy_(inputs["a_2"])
        _param(module, "b_2").copy_(inputs["b_2"])
    outs.update(kit.call_twice(lambda: _step(module, inputs, p.grads), lambda got, _which: got))
    return outs


def timed(sub, inputs: dict, case):
    # The module is built once, outside the timed region; one forward is timed.
    module, x = _build(sub, case), inputs["x"]
    return lambda: module(x)
