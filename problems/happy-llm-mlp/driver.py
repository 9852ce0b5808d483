"""Driver for `happy-llm-mlp`: the same code runs the reference and the submission.

Each case builds one MLP(dim, hidden_dim, dropout) positionally, as the tutorial's layers do
(`MLP(args.dim, args.dim, args.dropout)`), moves it to the case's device (eval mode when the case
says so) and returns:

* weight_shapes: the shapes of w1.weight and w2.weight as built ([hidden, dim, dim, hidden]);
* parameter_count: how many parameters the module has (the tutorial's two bias-free weights);
* then w1 and w2 get seeded weights, and twice, on a fresh leaf copy of the input: output, and
  (when the case has grads) the gradients of sum(output * upstream) with respect to the input,
  w1.weight and w2.weight (grad_input, grad_w1, grad_w2); the second call's end in _second_call.
"""

import math
from dataclasses import dataclass

import torch

from sandbox import kit

LAYERS = ("w1", "w2")


@dataclass(frozen=True)
class Params:
    b: int
    s: int
    dim: int
    hidden_dim: int
    dropout: float = 0.0
    eval: bool = False
    grads: bool = True


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    inputs = {
        "x": r.randn(p.b, p.s, p.dim, draw=torch.float32),
        # nn.Linear's own scale (1/sqrt(fan_in)) keeps the activations of order one
        "w1_weight": r.randn(p.hidden_dim, p.dim, scale=1 / math.sqrt(p.dim), draw=torch.float32),
        "w2_weight": r.randn(p.dim, p.hidden_dim, scale=1 / math.sqrt(p.hidden_dim), draw=torch.float32),
    }
    if p.grads:
        inputs["upstream"] = r.randn(p.b, p.s, p.dim, draw=torch.float32)
    return inputs


def _weight(module, name: str) -> torch.Tensor:
    layer = kit.attr(module, name, "MLP")
    return kit.tensor(kit.attr(layer, "weight", f"MLP.{name}"), f"MLP.{name}.weight")


def _build(sub, case, inputs: dict):
    p = kit.params(Params, case)
    module = kit.instance(sub.MLP(p.dim, p.hidden_dim, p.dropout), torch.nn.Module, "MLP(dim, hidden_dim, dropout)")
    module = module.to(case.device)  # the tutorial builds on the CPU and moves the model
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
    return dict(zip(("output", "grad_input", "grad_w1", "grad_w2"), [out, *got], strict=True))


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
