"""Driver for importance-matmul: the same code runs the reference and the submission.

run() calls the submission as the course's grader does in the case's mode (Params.mode) and no
more often: once, or twice on the same tensors (state kept between the calls, such as an
accumulated .grad, shows up in the *_second_call results). Inputs never require grad (the course
guarantees that). Probabilities (in the dtype of `input`) are pairwise distinct multiples of 1/G
inside a sequence (G = 256 in half precision, 2**16 in float32), so every value, comparison with
top_p and top-k choice is exact and unambiguous in all dtypes.
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
    # the course grader's test mode: fwd = one call without grad_output; bwd = one call with
    # grad_output [t, nh, e], both gradients expected; 2bwd = that call twice on the same
    # tensors; 2bwd+rg = twice, then requires_grad must be unchanged (mutable_inputs = [])
    mode: Literal["fwd", "bwd", "2bwd", "2bwd+rg"] = "fwd"
    force_eq: bool = True  # one token per sequence gets a probability exactly top_p
    # keyword: every argument by keyword, as the course's grader calls it (a parameter renamed
    # by the student fails here as it does there); defaults: only input=, weight=, probs=
    call: Literal["keyword", "defaults"] = "keyword"

    def __post_init__(self) -> None:
        defaults = (self.num_heads, self.top_p, self.top_k, self.mode) == (1, 1.0, None, "fwd")
        kit.require(self.call != "defaults" or defaults, "call='defaults' needs the default settings")
        kit.require(self.h % self.num_heads == 0, "h is not divisible by num_heads")
        kit.require(self.top_k is None or 1 <= self.top_k <= self.s, "top_k must be in [1, s]")  # the course's domain
        kit.require(0 <= self.top_p <= 1 and self.top_p * 256 % 1 == 0, "top_p must be a multiple of 1/256 in [0, 1]")


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
        perm = r.randperm(grid)[:p.s + 1]           # (the whole permutation is drawn: same stream)
        perm = perm[perm != j0][:p.s]               # distinct, none equal to top_p yet
        if p.force_eq:
            perm[r.integer(0, p.s)] = j0            # exactly top_p (j0 may be grid -> 1.0)
        rows.append(perm)
    return torch.stack(rows).to(torch.float64) / grid


def generate_inputs(case, seed: int) -> dict:
    p, r = kit.params(Params, case), kit.rng(case, seed)
    grid = 256 if case.dtype in (torch.float16, torch.bfloat16) else 2**16
    kit.require(p.s < grid, f"case {case.name}: s={p.s} too long for distinct probabilities")
    x = r.randn(p.b, p.s, p.h, draw=torch.float32)
    w = r.randn(p.h, p.e, draw=torch.float32)
    probs = _make_probs(r, p, grid)
    # Draw grad_output at full size, then keep the rows of the kept tokens in (b, s) order:
    # the number of rows depends on the selection, the random stream does not.
    g_full = r.randn(p.b, p.s, p.num_heads, p.e, draw=torch.float32, place=False)
    inputs = {"input": x, "weight": w, "probs": r.place(probs)}
    if p.mode != "fwd":
        inputs["grad_output"] = r.place(g_full[kept_mask(probs, p.top_p, p.top_k)]).contiguous()
    return inputs


def _call(sub, inputs: dict, case):
    p = kit.params(Params, case)
    rest = {} if p.call == "defaults" else {"grad_output": inputs.get("grad_output"), "num_heads": p.num_heads,
                                            "top_p": p.top_p, "top_k": p.top_k}
    return sub.matmul_with_importance(input=inputs["input"], weight=inputs["weight"], probs=inputs["probs"], **rest)


def _unpack(result, with_grads: bool, which: str) -> dict:
    what = f"matmul_with_importance's result (the {which} call, grad_output {'' if with_grads else 'not '}given)"
    return kit.outputs(result, ("output", "grad_input", "grad_weight"), what,
                       absent=() if with_grads else ("grad_input", "grad_weight"))


def run(sub, inputs: dict, case) -> dict:
    mode, with_grads = kit.params(Params, case).mode, "grad_output" in inputs
    call_n = kit.call_once if mode in ("fwd", "bwd") else kit.call_twice
    res = call_n(lambda: _call(sub, inputs, case), lambda r, which: _unpack(r, with_grads, which))
    kit.forget_grads(inputs)  # a stale .grad on a tensor that no longer requires grad: not checked by the course
    return res


timed = kit.timed(_call)
