"""Driver for manual-linear: one ManualLinear instance per case replays the script `ops`.

    F  forward(next x_k)            -> y_k
    B  backward(next grad_output_k) -> grad_input_k, W_grad_k

These are the course's construction and calls: ManualLinear(in_dim, out_dim, device=...,
dtype=...), forward(x), backward(grad_output); the course's class has no step(). Several rounds
on one object expose state bugs (a W_grad that accumulates, a forward that keeps an old x). Every
value is copied the moment it is produced, so later in-place updates cannot rewrite it.
"""

import math
from dataclasses import dataclass

import torch

from sandbox import kit

TIMED_ROUNDS = 4


@dataclass(frozen=True)
class Params:
    b: int  # b, h: leading dims of x; d: in_dim; e: out_dim
    h: int
    d: int
    e: int
    ops: str = "FB"  # spaces are ignored

    def __post_init__(self) -> None:
        kit.require(self.script and not set(self.script) - set("FB"), f"bad ops string {self.ops!r}")

    @property
    def script(self) -> str:
        return "".join(self.ops.split())


def generate_inputs(case, seed: int) -> dict[str, object]:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    inputs: dict[str, object] = {"W0": r.randn(p.d, p.e, scale=1.0 / math.sqrt(p.d))}
    for k in range(1, p.script.count("F") + 1):
        inputs[f"x_{k}"] = r.randn(p.b, p.h, p.d)
    # Upstream gradients are scaled as if the loss averaged over the b*h rows, so W_grad (a sum
    # over those rows) stays O(1) and float32 rounding stays far below the tolerance.
    for k in range(1, p.script.count("B") + 1):
        inputs[f"grad_output_{k}"] = r.randn(p.b, p.h, p.e, scale=1.0 / math.sqrt(p.b * p.h))
    return inputs


def _build(sub, inputs, case):
    """Construct the submission's layer, check its initial W, and install the case weight."""
    p = kit.params(Params, case)
    obj = sub.ManualLinear(p.d, p.e, device=case.device, dtype=case.dtype)
    what = f"ManualLinear({p.d}, {p.e}).W"
    w = kit.tensor(getattr(obj, "W", None), what, shape=(p.d, p.e), dtype=case.dtype, device=case.device)
    if w.requires_grad:  # checked before W is replaced: a bare nn.Parameter(t) would go unnoticed
        raise kit.RuleViolation(f"autograd is forbidden in this problem: {what} requires grad "
                                "(a bare nn.Parameter(t) does; use a plain tensor or requires_grad=False)")
    w0 = inputs["W0"].clone()  # a registered Parameter cannot be replaced by a plain tensor
    obj.W = torch.nn.Parameter(w0, requires_grad=False) if isinstance(w, torch.nn.Parameter) else w0
    return obj


def run(sub, inputs: dict[str, object], case) -> dict[str, torch.Tensor]:
    script, obj, out = kit.params(Params, case).script, _build(sub, inputs, case), {}
    for i, op in enumerate(script):
        k = script[: i + 1].count(op)  # the k-th F or B
        if op == "F":
            out[f"y_{k}"] = kit.snap(kit.tensor(obj.forward(inputs[f"x_{k}"]), f"forward() (call {k})"))
        else:
            gi = obj.backward(inputs[f"grad_output_{k}"])
            out[f"grad_input_{k}"] = kit.snap(kit.tensor(gi, f"backward() (call {k})"))
            out[f"W_grad_{k}"] = kit.snap(kit.tensor(getattr(obj, "W_grad", None), f"W_grad after backward() call {k}"))
    return out


def timed(sub, inputs, case):
    """TIMED_ROUNDS forward + backward iterations on a prebuilt layer, alternating the case's
    inputs, so that one measurement is long compared with the harness round trip."""
    script, obj = kit.params(Params, case).script, _build(sub, inputs, case)
    n = min(script.count("F"), script.count("B"))
    kit.require(n, f"case {case.name}: a timed case needs at least one F and one B")

    def iterations():
        for r in range(TIMED_ROUNDS):
            obj.forward(inputs[f"x_{r % n + 1}"])
            obj.backward(inputs[f"grad_output_{r % n + 1}"])

    return iterations
