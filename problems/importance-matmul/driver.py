"""Driver for importance-matmul: the same code runs the reference and the submission.

Case params (problem.toml):
    b, s, h, e        shapes: input [b, s, h], weight [h, e], probs [b, s]
    num_heads         default 1
    top_p             default 1.0 (a multiple of 1/256, so it is exact in every dtype)
    top_k             omitted means None
    grads             true: pass grad_output [t, nh, e] and expect both gradients back
    force_eq          true (default): one token per sequence gets a probability exactly top_p
    call              "keyword" (default): every argument by keyword, as the course's grader
                      calls it; "defaults": only input=, weight=, probs= (the case must then
                      use the default settings)

Inputs never require grad (the course guarantees that), so they arrive with
requires_grad=False and no .grad, and requires_grad must still be False afterwards.

run() calls the submission up to three times with the same tensors: in cases with gradients
first without grad_output (its output must have t rows, else WrongAnswer, since a wrong
selection would only crash in the submission's own backward code), then twice with it. It
returns output, grad_input, grad_weight, their *_second_call copies and output_forward_only.

Probabilities have the dtype of `input`. Inside one sequence they are pairwise distinct
multiples of 1/G (G = 256 for half precision, 2**16 for float32), so every value, every
comparison with top_p and every top-k choice is exact and unambiguous in all dtypes.
"""

import torch

try:
    from sandbox.harness import WrongAnswer
except ImportError:  # the judge core is not importable (authoring outside the judge)

    class WrongAnswer(Exception):
        """The submission returned something of the wrong structure."""


_CALLS = ("keyword", "defaults")


def _settings(case):
    p = case.params
    nh = int(p.get("num_heads", 1))
    top_p = float(p.get("top_p", 1.0))
    top_k = p.get("top_k")
    grads = bool(p.get("grads", False))
    call = p.get("call", "keyword")
    if call not in _CALLS:
        raise ValueError(f"case {case.name}: unknown call style {call!r}")
    if call == "defaults" and (nh != 1 or top_p != 1.0 or top_k is not None or grads):
        raise ValueError(f"case {case.name}: call='defaults' needs the default settings")
    if p["h"] % nh != 0:
        raise ValueError(f"case {case.name}: h={p['h']} not divisible by num_heads={nh}")
    if top_k is not None and not 1 <= int(top_k) <= p["s"]:
        # The course's domain: top_k in [1, seq_len] (its reference raises above seq_len).
        raise ValueError(f"case {case.name}: top_k must be in [1, s={p['s']}]")
    if not 0.0 <= top_p <= 1.0 or (top_p * 256) != int(top_p * 256):
        raise ValueError(f"case {case.name}: top_p must be a multiple of 1/256 in [0, 1]")
    return nh, top_p, (None if top_k is None else int(top_k)), grads, call


def kept_mask(probs: torch.Tensor, top_p: float, top_k) -> torch.Tensor:
    """The judge's own selection rule (trusted code): needed to size grad_output."""
    keep = probs >= top_p
    s = probs.shape[-1]
    if top_k is not None and top_k < s:
        kth = torch.topk(probs.float(), top_k, dim=-1).values[..., -1:]
        keep &= probs.float() >= kth
    return keep


def _make_probs(gen, b, s, grid, top_p, force_eq):
    """[b, s] float64 probabilities, distinct multiples of 1/grid inside each row."""
    j0 = round(top_p * grid)
    rows = []
    for _ in range(b):
        perm = torch.randperm(grid, generator=gen)
        perm = perm[perm != j0][:s]                 # distinct, none equal to top_p yet
        if force_eq:
            pos = int(torch.randint(s, (1,), generator=gen))
            perm[pos] = j0                          # exactly top_p (j0 may be grid -> 1.0)
        rows.append(perm)
    return torch.stack(rows).to(torch.float64) / grid


def generate_inputs(case, seed: int) -> dict:
    p = case.params
    b, s, h, e = p["b"], p["s"], p["h"], p["e"]
    nh, top_p, top_k, grads, _ = _settings(case)
    half = case.dtype in (torch.float16, torch.bfloat16)
    grid = 256 if half else 2**16
    if s > grid - 1:
        raise ValueError(f"case {case.name}: s={s} too long for distinct probabilities")

    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    x = torch.randn((b, s, h), generator=gen, dtype=torch.float32)
    w = torch.randn((h, e), generator=gen, dtype=torch.float32)
    probs = _make_probs(gen, b, s, grid, top_p, bool(p.get("force_eq", True)))
    # Draw grad_output at full size, then keep the rows of the kept tokens in (b, s) order:
    # the number of rows depends on the selection, the random stream does not.
    g_full = torch.randn((b, s, nh, e), generator=gen, dtype=torch.float32)

    dev, dt = case.device, case.dtype
    inputs = {
        "input": x.to(device=dev, dtype=dt),
        "weight": w.to(device=dev, dtype=dt),
        "probs": probs.to(device=dev, dtype=dt),
    }
    if grads:
        keep = kept_mask(probs, top_p, top_k)
        inputs["grad_output"] = g_full[keep].to(device=dev, dtype=dt).contiguous()
    return inputs


def _call(sub, inputs: dict, case, with_grads: bool = True):
    nh, top_p, top_k, _, call = _settings(case)
    f = sub.matmul_with_importance
    x, w, pr = inputs["input"], inputs["weight"], inputs["probs"]
    g = inputs.get("grad_output") if with_grads else None
    # By keyword, as the course's grader calls it: a parameter renamed by the student fails here
    # as it does there.
    if call == "defaults":
        return f(input=x, weight=w, probs=pr)
    return f(input=x, weight=w, probs=pr, grad_output=g, num_heads=nh, top_p=top_p, top_k=top_k)


def _unpack(result, with_grads: bool, which: str):
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        what = f"a {type(result).__name__}"
        if isinstance(result, (tuple, list)):
            what = f"a {type(result).__name__} of length {len(result)}"
        raise WrongAnswer(
            f"matmul_with_importance must return a tuple (output, grad_input, grad_weight); "
            f"the {which} call returned {what}"
        )
    out, gi, gw = result
    if not isinstance(out, torch.Tensor):
        raise WrongAnswer(f"output must be a torch.Tensor ({which} call: {type(out).__name__})")
    names = (("grad_input", gi), ("grad_weight", gw))
    if with_grads:
        for name, val in names:
            if not isinstance(val, torch.Tensor):
                raise WrongAnswer(
                    f"grad_output was given, so {name} must be a torch.Tensor "
                    f"({which} call returned {type(val).__name__})"
                )
    else:
        for name, val in names:
            if val is not None:
                raise WrongAnswer(
                    f"grad_output was not given, so {name} must be None "
                    f"({which} call returned {type(val).__name__})"
                )
    # Private, contiguous, graph-free copies: a later call cannot overwrite them, and a
    # submission that used autograd internally is not penalised for a leftover grad_fn.
    snap = lambda t: t.detach().clone(memory_format=torch.contiguous_format)  # noqa: E731
    res = {"output": snap(out)}
    if with_grads:
        res["grad_input"] = snap(gi)
        res["grad_weight"] = snap(gw)
    return res


def run(sub, inputs: dict, case) -> dict:
    with_grads = "grad_output" in inputs
    res = {}
    if with_grads:
        # Probe without grad_output first. grad_output is sized for the right selection, so a
        # submission that keeps the wrong tokens would otherwise crash inside its own backward
        # code; report the selection instead.
        probe = _unpack(_call(sub, inputs, case, with_grads=False), False, "forward-only")
        t = inputs["grad_output"].shape[0]
        got = probe["output"]
        if got.dim() != 3 or got.shape[0] != t:
            raise WrongAnswer(
                f"without grad_output, output has shape {list(got.shape)}: expected {t} kept "
                f"tokens in dimension 0 (shape [t, num_heads, e])"
            )
        res["output_forward_only"] = got
    first = _unpack(_call(sub, inputs, case), with_grads, "first")
    # Same tensors again: state kept between calls (accumulated .grad, cached buffers)
    # shows up as a difference in the second result.
    second = _unpack(_call(sub, inputs, case), with_grads, "second")
    res.update(first)
    res.update({f"{k}_second_call": v for k, v in second.items()})
    _drop_leftover_grads(inputs)
    return res


def _drop_leftover_grads(inputs: dict) -> None:
    """Forget a .grad left on a caller's tensor that does not require grad.

    The course checks requires_grad after the calls, and an accumulated .grad shows up in the
    second call's result, but a stale .grad on a tensor that no longer requires grad is not
    checked there; so it is not here either (the requires_grad check stays).
    """
    for t in inputs.values():
        if isinstance(t, torch.Tensor) and not t.requires_grad and t.grad is not None:
            t.grad = None


def timed(sub, inputs: dict, case):
    return lambda: _call(sub, inputs, case)
