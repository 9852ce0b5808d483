"""Driver for importance-matmul: the same code runs the reference and the submission.

Inputs never require grad (the course guarantees that). run() calls the submission with the same
tensors up to three times: with gradients, first without grad_output (its output must have t
rows), then twice with it; it returns output, grad_input, grad_weight, their *_second_call copies
and output_forward_only. Probabilities (in the dtype of `input`) are pairwise distinct multiples
of 1/G inside a sequence (G = 256 for half precision, 2**16 for float32), so every value, every
comparison with top_p and every top-k choice is exact and unambiguous in all dtypes.
"""

from dataclasses import dataclass
from typing import Literal

import torch

from sandbox import kit


@dataclass(frozen=True)
class Params:
    b: int  # shapes: input [b, s, h], weight [h, e], probs [b, s]
    s: int
    h: int
    e: int
    num_heads: int = 1
    top_p: float = 1.0  # a multiple of 1/256, so it is exact in every dtype
    top_k: int | None = None
    grads: bool = False  # pass grad_output [t, nh, e] and expect both gradients back
    force_eq: bool = True  # one token per sequence gets a probability exactly top_p
    # keyword: every argument by keyword, as the course's grader calls it (a parameter renamed
    # by the student fails here as it does there); defaults: only input=, weight=, probs=
    call: Literal["keyword", "defaults"] = "keyword"

    def __post_init__(self) -> None:
        if self.call == "defaults" and (self.num_heads, self.top_p, self.top_k, self.grads) != (1, 1.0, None, False):
            raise ValueError("call='defaults' needs the default settings")
        if self.h % self.num_heads:
            raise ValueError("h is not divisible by num_heads")
        if self.top_k is not None and not 1 <= self.top_k <= self.s:  # the course's domain
            raise ValueError("top_k must be in [1, s]")
        if not 0.0 <= self.top_p <= 1.0 or self.top_p * 256 % 1:
            raise ValueError("top_p must be a multiple of 1/256 in [0, 1]")


def kept_mask(probs: torch.Tensor, top_p: float, top_k) -> torch.Tensor:
    """The judge's own selection rule (trusted code): needed to size grad_output."""
    keep = probs >= top_p
    if top_k is not None and top_k < probs.shape[-1]:
        kth = torch.topk(probs.float(), top_k, dim=-1).values[..., -1:]
        keep &= probs.float() >= kth
    return keep


def _make_probs(r: kit.Rng, p: Params, grid: int) -> torch.Tensor:
    """[b, s] float64 probabilities, distinct multiples of 1/grid inside each row."""
    j0 = round(p.top_p * grid)
    rows = []
    for _ in range(p.b):
        perm = r.randperm(grid)
        perm = perm[perm != j0][:p.s]               # distinct, none equal to top_p yet
        if p.force_eq:
            perm[r.integer(0, p.s)] = j0            # exactly top_p (j0 may be grid -> 1.0)
        rows.append(perm)
    return torch.stack(rows).to(torch.float64) / grid


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    grid = 256 if case.dtype in (torch.float16, torch.bfloat16) else 2**16
    if p.s > grid - 1:
        raise ValueError(f"case {case.name}: s={p.s} too long for distinct probabilities")
    x = r.randn(p.b, p.s, p.h, draw=torch.float32)
    w = r.randn(p.h, p.e, draw=torch.float32)
    probs = _make_probs(r, p, grid)
    # Draw grad_output at full size, then keep the rows of the kept tokens in (b, s) order:
    # the number of rows depends on the selection, the random stream does not.
    g_full = r.randn(p.b, p.s, p.num_heads, p.e, draw=torch.float32, place=False)
    inputs = {"input": x, "weight": w, "probs": r.place(probs)}
    if p.grads:
        inputs["grad_output"] = r.place(g_full[kept_mask(probs, p.top_p, p.top_k)]).contiguous()
    return inputs


def _call(sub, inputs: dict, case, with_grads: bool = True):
    p, f = kit.params(Params, case), sub.matmul_with_importance
    x, w, pr = inputs["input"], inputs["weight"], inputs["probs"]
    if p.call == "defaults":
        return f(input=x, weight=w, probs=pr)
    g = inputs.get("grad_output") if with_grads else None
    return f(input=x, weight=w, probs=pr, grad_output=g, num_heads=p.num_heads, top_p=p.top_p, top_k=p.top_k)


def _unpack(result, with_grads: bool, which: str) -> dict:
    what = f"matmul_with_importance's result (the {which} call)"
    out, gi, gw = kit.sequence(result, 3, what + " (output, grad_input, grad_weight)")
    res = {"output": kit.tensor(out, f"output in {what}")}
    for name, val in (("grad_input", gi), ("grad_weight", gw)):
        if with_grads:
            res[name] = kit.tensor(val, f"grad_output was given, so {name} in {what}")
        else:
            kit.none(val, f"grad_output was not given, so {name} in {what}")
    return res


def run(sub, inputs: dict, case) -> dict:
    with_grads = "grad_output" in inputs
    res = {}
    if with_grads:
        # Probe without grad_output first. grad_output is sized for the right selection, so a
        # submission that keeps the wrong tokens would otherwise crash inside its own backward
        # code; report the selection instead.
        got = kit.snap(_unpack(_call(sub, inputs, case, with_grads=False), False, "forward-only")["output"])
        t = inputs["grad_output"].shape[0]
        if got.dim() != 3 or got.shape[0] != t:
            raise kit.WrongAnswer(
                f"without grad_output, output has shape {list(got.shape)}: expected {t} kept "
                f"tokens in dimension 0 (shape [t, num_heads, e])"
            )
        res["output_forward_only"] = got
    # Same tensors twice: state kept between calls (accumulated .grad, cached buffers) shows up
    # as a difference in the *_second_call results.
    res.update(kit.call_twice(lambda: _call(sub, inputs, case), lambda r, which: _unpack(r, with_grads, which)))
    # The course checks requires_grad after the calls, and an accumulated .grad shows up in the
    # second call's result, but a stale .grad on a tensor that no longer requires grad is not
    # checked there; so it is not here either (the requires_grad check stays).
    for t in inputs.values():
        if isinstance(t, torch.Tensor) and not t.requires_grad and t.grad is not None:
            t.grad = None
    return res


timed = kit.timed(_call)
