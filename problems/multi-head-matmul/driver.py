"""Driver for multi-head-matmul: the same code runs the reference and the submission."""

import torch

try:
    from sandbox.harness import WrongAnswer
except ImportError:  # the judge core is not importable (e.g. authoring outside the judge)

    class WrongAnswer(Exception):
        """The submission returned something of the wrong structure."""


def generate_inputs(case, seed: int) -> dict:
    p = case.params
    b, s, h, e, nh = p["b"], p["s"], p["h"], p["e"], p["num_heads"]
    if h % nh != 0:
        raise ValueError(f"case {case.name}: h={h} is not divisible by num_heads={nh}")
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    # Standard normal (the course's inputs), drawn in float32 on the CPU so every device and
    # dtype sees the same values.
    x = torch.randn((b, s, h), generator=g, dtype=torch.float32)
    w = torch.randn((h, e), generator=g, dtype=torch.float32)
    return {
        "input": x.to(device=case.device, dtype=case.dtype),
        "weight": w.to(device=case.device, dtype=case.dtype),
    }


def _call(sub, inputs: dict, case):
    nh = case.params["num_heads"]
    # By keyword, as the course's grader calls its functions.
    if case.params.get("omit_num_heads", False):
        # Checks that num_heads defaults to 1.
        return sub.matmul_with_multi_head(input=inputs["input"], weight=inputs["weight"])
    return sub.matmul_with_multi_head(input=inputs["input"], weight=inputs["weight"], num_heads=nh)


def _check(out, which: str):
    if not isinstance(out, torch.Tensor):
        raise WrongAnswer(
            f"matmul_with_multi_head must return a torch.Tensor; the {which} call returned "
            f"{type(out).__name__}"
        )
    return out


def run(sub, inputs: dict, case) -> dict:
    first = _check(_call(sub, inputs, case), "first")
    # Snapshot the first result before calling again, so that reusing an output buffer
    # or keeping state between calls shows up as a difference.
    first = first.detach().clone()
    second = _check(_call(sub, inputs, case), "second")
    return {"output": first, "output_second_call": second.detach()}


def timed(sub, inputs: dict, case):
    x, w, nh = inputs["input"], inputs["weight"], case.params["num_heads"]
    f = sub.matmul_with_multi_head
    return lambda: f(input=x, weight=w, num_heads=nh)
