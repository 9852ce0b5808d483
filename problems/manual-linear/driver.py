"""Driver for manual-linear.

Every case builds one ManualLinear instance, swaps in the case's weight, and then replays a
short script of calls on that same instance.  The script is the case parameter ``ops``, read
left to right (spaces are ignored):

    F   forward(x_k) with the next fresh input x_k            -> output  y_k
    B   backward(g_k) with the next fresh upstream gradient   -> outputs grad_input_k, W_grad_k

These are the course's construction and calls: ManualLinear(in_dim, out_dim, device=...,
dtype=...), forward(x), backward(grad_output). The course's class has no step(), so there is
none here. Replaying several rounds on one object is what exposes state bugs: a W_grad that
accumulates, a forward that keeps an old x.
Every value is copied the moment it is produced, so later in-place updates made by the
submission cannot rewrite what was already recorded.
"""

from __future__ import annotations

import math

import torch

try:  # the harness provides them inside the sandbox
    from sandbox.harness import RuleViolation, WrongAnswer
except ImportError:  # authoring without the judge core installed

    class WrongAnswer(Exception):
        """The submission returned something of the wrong structure."""

    class RuleViolation(BaseException):  # type: ignore[no-redef]
        """The submission used autograd."""


_OPS = set("FB")


def _ops(case) -> str:
    ops = "".join(str(case.params.get("ops", "FB")).split())
    bad = set(ops) - _OPS
    if bad or not ops:
        raise ValueError(f"case {case.name}: bad ops string {case.params.get('ops')!r}")
    return ops


def _dims(case) -> tuple[int, int, int, int]:
    p = case.params
    return int(p["b"]), int(p["h"]), int(p["d"]), int(p["e"])


def generate_inputs(case, seed: int) -> dict[str, object]:
    b, h, d, e = _dims(case)
    ops = _ops(case)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed))

    def draw(*shape: int, scale: float = 1.0) -> torch.Tensor:
        t = torch.randn(*shape, generator=gen, dtype=torch.float64) * scale
        return t.to(device=case.device, dtype=case.dtype)

    inputs: dict[str, object] = {"W0": draw(d, e, scale=1.0 / math.sqrt(d))}
    for k in range(1, ops.count("F") + 1):
        inputs[f"x_{k}"] = draw(b, h, d)
    # Upstream gradients are scaled as if the loss averaged over the b*h rows, so W_grad (a sum
    # over those rows) stays O(1) and float32 rounding stays far below the tolerance.
    for k in range(1, ops.count("B") + 1):
        inputs[f"grad_output_{k}"] = draw(b, h, e, scale=1.0 / math.sqrt(b * h))
    return inputs


def _snap(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone(memory_format=torch.contiguous_format)


def _need_tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise WrongAnswer(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    return value


def _build(sub, inputs, case):
    """Construct the submission's layer, check its initial W, and install the case weight."""
    b, h, d, e = _dims(case)
    obj = sub.ManualLinear(d, e, device=case.device, dtype=case.dtype)
    w = _need_tensor(getattr(obj, "W", None), f"ManualLinear({d}, {e}).W")
    if tuple(w.shape) != (d, e):
        raise WrongAnswer(
            f"ManualLinear({d}, {e}).W has shape {list(w.shape)}, expected [in_dim, out_dim] = {[d, e]}"
        )
    if w.dtype != case.dtype:
        raise WrongAnswer(f"ManualLinear(..., dtype={case.dtype}).W has dtype {w.dtype}")
    if w.device.type != torch.device(case.device).type:
        raise WrongAnswer(f"ManualLinear(..., device={case.device!r}).W is on {w.device.type}")
    if w.requires_grad:
        # Checked before W is replaced: a bare nn.Parameter(t) would otherwise go unnoticed.
        raise RuleViolation(
            f"autograd is forbidden in this problem: ManualLinear({d}, {e}).W requires grad "
            "(a bare nn.Parameter(t) does; use a plain tensor or requires_grad=False)"
        )

    w0 = inputs["W0"].clone()
    if isinstance(w, torch.nn.Parameter):
        # a registered Parameter cannot be replaced by a plain tensor on an nn.Module
        setattr(obj, "W", torch.nn.Parameter(w0, requires_grad=False))
    else:
        setattr(obj, "W", w0)
    return obj


def run(sub, inputs: dict[str, object], case) -> dict[str, torch.Tensor]:
    ops = _ops(case)
    obj = _build(sub, inputs, case)

    out: dict[str, torch.Tensor] = {}
    nf = nb = 0
    for op in ops:
        if op == "F":
            nf += 1
            y = obj.forward(inputs[f"x_{nf}"])
            out[f"y_{nf}"] = _snap(_need_tensor(y, f"forward() (call {nf})"))
        else:
            nb += 1
            gi = obj.backward(inputs[f"grad_output_{nb}"])
            out[f"grad_input_{nb}"] = _snap(_need_tensor(gi, f"backward() (call {nb})"))
            wg = _need_tensor(getattr(obj, "W_grad", None), f"W_grad after backward() call {nb}")
            out[f"W_grad_{nb}"] = _snap(wg)
    return out


TIMED_ROUNDS = 4


def timed(sub, inputs, case):
    """Forward + backward iterations on a prebuilt layer.

    One timed call runs TIMED_ROUNDS iterations, alternating the case's inputs, so that each
    measurement is long compared with the harness round trip and scheduler noise.
    """
    obj = _build(sub, inputs, case)
    pairs = []
    k = 1
    while f"x_{k}" in inputs and f"grad_output_{k}" in inputs:
        pairs.append((inputs[f"x_{k}"], inputs[f"grad_output_{k}"]))
        k += 1
    if not pairs:
        raise ValueError(f"case {case.name}: a timed case needs at least one F and one B")

    def iterations():
        for r in range(TIMED_ROUNDS):
            x, g = pairs[r % len(pairs)]
            obj.forward(x)
            obj.backward(g)

    return iterations
