"""The authoring kit: the one module of ours a problem's driver imports.

A driver (problems/<slug>/driver.py) runs inside the sandbox, in the student's process, and the
sandbox imports nothing of the judge but this package; the kit therefore depends on torch and the
standard library only, and works as well when an author runs a driver by hand::

    from sandbox import kit
    case = kit.make_case(params={"n": 4}, dtype="float64")
    inputs = driver.generate_inputs(case, case.seed)
    print(driver.run(reference_module, inputs, case))

What it offers (see docs/problem-format.md for the whole contract):

* verdict exceptions: `WrongAnswer` (the submission returned the wrong structure) and
  `RuleViolation` (a forbidden call), re-exported from the harness;
* typed case parameters: `params(Params, case)` builds the driver's `Params` dataclass from the
  case's params (the judge has already validated them against that class when the package
  loaded); `require(ok, message)` states a condition on them (in `__post_init__` or
  `generate_inputs`) that the judge reports as the author's mistake when it does not hold;
* seeded generation: `rng(case, seed)` draws on the CPU from a `torch.Generator` and moves the
  result to the case's device and dtype, so CPU and CUDA cases see bit-identical inputs;
* structure checks that raise `WrongAnswer`: `tensor`, `sequence`, `none`, `instance`, `attr`,
  and `outputs` (a tuple result checked entry by entry against its names);
* snapshots: `snap` (a private contiguous copy) and `ints` (an int64 output tensor);
* `diagnostic` (one of the student's own modules run on its own, for `diagnostics` in
  problem.toml: never a verdict of its own);
* `call_once`, `call_twice` (same call twice; both results are returned for comparison, so state leaking
  from one call into the next shows up outside the sandbox) and `timed` (a default `timed`).

Only what `run` returns is compared outside the sandbox, so only that is binding: every check
made here happens inside the student's process and could be subverted by the student's code.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch

from sandbox.harness import CaseContext, RuleViolation, WrongAnswer

__all__ = [
    "DTYPES",
    "CaseContext",
    "Rng",
    "RuleViolation",
    "WrongAnswer",
    "attr",
    "call_once",
    "call_twice",
    "diagnostic",
    "forget_grads",
    "grads",
    "instance",
    "ints",
    "make_case",
    "none",
    "outputs",
    "params",
    "require",
    "requires_grad",
    "reset_check",
    "rng",
    "sequence",
    "snap",
    "tensor",
    "timed",
]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}

P = TypeVar("P")
Outputs = dict[str, torch.Tensor]


# ---- cases and their parameters ------------------------------------------------------------


def make_case(
    name: str = "local",
    params: Mapping[str, Any] | None = None,
    dtype: str | torch.dtype = "float32",
    device: str = "cpu",
    seed: int = 0,
    visibility: str = "public",
    mutable_inputs: Sequence[str] = (),
) -> CaseContext:
    """A case as the harness builds it, for running a driver by hand outside the judge."""
    return CaseContext(
        name=name,
        params=dict(params or {}),
        dtype=DTYPES[dtype] if isinstance(dtype, str) else dtype,
        device=device,
        visibility=visibility,
        seed=int(seed),
        mutable_inputs=list(mutable_inputs),
    )


def _coerce(value: Any, hint: Any) -> Any:
    """Lists become tuples where a tuple is declared and ints floats where a float is (TOML/JSON)."""
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is tuple and isinstance(value, (list, tuple)):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(args) == len(value):
            return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
        return tuple(value)
    if origin is list and isinstance(value, (list, tuple)):
        (arg,) = typing.get_args(hint) or (Any,)
        return [_coerce(v, arg) for v in value]
    if origin in (typing.Union, types.UnionType) and value is not None:
        for arg in typing.get_args(hint):
            if arg is not type(None):
                return _coerce(value, arg)
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # resolved once per class: params() runs in timed calls


def params(cls: type[P], case: CaseContext) -> P:
    """The case's params as an instance of the driver's `Params` dataclass.

    The judge validates every case against `Params` when the package loads (outside the sandbox),
    so a failure here means the driver was run by hand with params the class does not accept.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(case.params) - names)
    if unknown:
        raise ValueError(f"case {case.name}: unknown params {', '.join(unknown)} for {cls.__name__}")
    hints = _hints(cls)
    values = {k: _coerce(v, hints.get(k, Any)) for k, v in case.params.items()}
    try:
        return cls(**values)  # a __post_init__ may check across fields and raise ValueError
    except (TypeError, ValueError) as exc:
        raise ValueError(f"case {case.name}: {exc}") from exc


def require(ok: object, message: str) -> None:
    """Raise ValueError(message) unless `ok`: a case outside the domain the driver supports.

    In a `Params.__post_init__`, `params()` re-raises it with the case's name; the reference run
    then fails and `problem validate` reports the case and the message."""
    if not ok:
        raise ValueError(message)


# ---- seeded generation ---------------------------------------------------------------------


class Rng:
    """Seeded draws on the CPU, placed on the case's device and dtype.

    Values are drawn in `draw` (float64 unless said otherwise) from one CPU generator, in the
    order of the calls, and only then cast and moved: a CUDA case sees the same numbers as a CPU
    case. Pass `place=False` to keep a draw on the CPU (to select from it first), then `place()`.
    """

    def __init__(self, case: CaseContext, seed: int) -> None:
        self.case = case
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))

    def place(self, t: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Move a CPU tensor to the case's device, cast to `dtype` (default: the case's)."""
        return t.to(device=self.case.device, dtype=dtype or self.case.dtype)

    def _out(self, t: torch.Tensor, dtype: torch.dtype | None, place: bool) -> torch.Tensor:
        return self.place(t, dtype) if place else t

    def randn(self, *shape: int, scale: float = 1.0, draw: torch.dtype = torch.float64,
              dtype: torch.dtype | None = None, place: bool = True) -> torch.Tensor:
        """Standard normal values times `scale`."""
        t = torch.randn(shape, generator=self.generator, dtype=draw)
        return self._out(t * scale if scale != 1.0 else t, dtype, place)

    def rand(self, *shape: int, low: float = 0.0, high: float = 1.0, draw: torch.dtype = torch.float64,
             dtype: torch.dtype | None = None, place: bool = True) -> torch.Tensor:
        """Uniform values in [low, high)."""
        t = torch.rand(shape, generator=self.generator, dtype=draw)
        if (low, high) != (0.0, 1.0):
            t = t * (high - low) + low
        return self._out(t, dtype, place)

    def randint(self, low: int, high: int, *shape: int, place: bool = True) -> torch.Tensor:
        """Uniform int64 values in [low, high) (placed on the case's device, dtype kept)."""
        t = torch.randint(low, high, shape, generator=self.generator)
        return t.to(self.case.device) if place else t

    def integer(self, low: int, high: int) -> int:
        """One Python int uniform in [low, high)."""
        return int(torch.randint(low, high, (1,), generator=self.generator))

    def randperm(self, n: int) -> torch.Tensor:
        """A random permutation of range(n), on the CPU."""
        return torch.randperm(n, generator=self.generator)


def rng(case: CaseContext, seed: int) -> Rng:
    """The case's seeded generator (`generate_inputs(case, seed)` passes its own seed)."""
    return Rng(case, seed)


def requires_grad(t: torch.Tensor, grad: float | None = None) -> torch.Tensor:
    """Mark an input as requiring grad, optionally with a `.grad` already filled with `grad`.

    The judge checks outside that requires_grad and .grad come back unchanged.
    """
    t.requires_grad_(True)
    if grad is not None:
        t.grad = torch.full_like(t, grad).detach()
    return t


# ---- structure checks (WrongAnswer) ---------------------------------------------------------


def _kind(value: object) -> str:
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    if isinstance(value, (tuple, list)):
        return f"{article} {name} of length {len(value)}"
    return "None" if value is None else f"{article} {name}"


def tensor(value: object, what: str, *, shape: Sequence[int] | None = None,
           dtype: torch.dtype | None = None, device: str | None = None) -> torch.Tensor:
    """`value` itself, if it is a tensor (of the given shape, dtype and device class)."""
    if not isinstance(value, torch.Tensor):
        raise WrongAnswer(f"{what} must be a torch.Tensor, got {_kind(value)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise WrongAnswer(f"{what} has shape {list(value.shape)}, expected {list(shape)}")
    if dtype is not None and value.dtype != dtype:
        raise WrongAnswer(f"{what} has dtype {value.dtype}, expected {dtype}")
    if device is not None and value.device.type != torch.device(device).type:
        raise WrongAnswer(f"{what} is on {value.device.type}, expected {torch.device(device).type}")
    return value


def sequence(value: object, n: int, what: str) -> tuple[Any, ...]:
    """`value` as a tuple, if it is a tuple or list of length n."""
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise WrongAnswer(f"{what} must be a tuple of {n} values, got {_kind(value)}")
    return tuple(value)


def none(value: object, what: str) -> None:
    """Raise WrongAnswer unless `value` is None."""
    if value is not None:
        raise WrongAnswer(f"{what} must be None, got {_kind(value)}")


def instance(value: P, cls: type | tuple[type, ...], what: str) -> P:
    """`value` itself, if it is an instance of cls (the wrong type is a WrongAnswer)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise WrongAnswer(f"{what} must be a {names}, got {_kind(value)}")
    return value


def outputs(value: object, names: Sequence[str], what: str, *, absent: Sequence[str] = ()) -> Outputs:
    """A tuple result as {name: tensor}: `value` must be a tuple or list with one entry per name;
    an entry whose name is in `absent` must be None (and is left out), every other a tensor."""
    got = sequence(value, len(names), f"{what} ({', '.join(names)})")
    res: Outputs = {}
    for name, v in zip(names, got, strict=True):
        if name in absent:
            none(v, f"{name} in {what}")
        else:
            res[name] = tensor(v, f"{name} in {what}")
    return res


def attr(obj: object, name: str, what: str | None = None) -> Any:
    """obj.name, or WrongAnswer if it has no such attribute."""
    if not hasattr(obj, name):
        raise WrongAnswer(f"{what or type(obj).__name__} has no attribute {name!r}")
    return getattr(obj, name)


# ---- snapshots and calls --------------------------------------------------------------------


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors hold the same values exactly: shape, dtype, every element (NaN where
    the other has NaN). What "not modified in place" means for an input."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        # Identical bits are the same values, read without a temporary (the usual answer, for
        # inputs nothing wrote to); else compare values, NaN matching NaN, -0.0 matching 0.0.
        bits = _SAME_SIZE_INT.get(a.element_size())
        if bits is not None and torch.equal(a.view(bits), b.view(bits)):
            return True
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    return bool(torch.equal(a, b))


_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def snap(t: torch.Tensor) -> torch.Tensor:
    """A private, contiguous, graph-free copy: later in-place updates cannot rewrite it."""
    return t.detach().clone(memory_format=torch.contiguous_format)


def ints(value: int | Sequence[int], case: CaseContext) -> torch.Tensor:
    """An int64 output tensor on the case's device (counts, flags, sizes to compare outside)."""
    return torch.tensor(value, dtype=torch.int64, device=case.device)


def _default_unpack(result: object, which: str) -> torch.Tensor:
    return tensor(result, f"the {which} call's result")


def call_once(
    call: Callable[[], object],
    unpack: Callable[[object, str], torch.Tensor | Outputs] = _default_unpack,
    name: str = "output",
) -> Outputs:
    """`call()` once; `unpack(result, "only")` as for `call_twice`, every output snapshotted."""
    got = unpack(call(), "only")
    return {k: snap(v) for k, v in (got if isinstance(got, dict) else {name: got}).items()}


def call_twice(
    call: Callable[[], object],
    unpack: Callable[[object, str], torch.Tensor | Outputs] = _default_unpack,
    name: str = "output",
) -> Outputs:
    """Call `call()` twice with the same inputs and return both results, snapshotted.

    `unpack(result, which)` (which is "first" or "second") checks a result and returns a tensor
    or a dict of tensors. A tensor is returned as `name` and `<name>_second_call`; a dict's keys
    as `key` and `key_second_call`. The first result is copied before the second call, so an
    output buffer reused between calls, an accumulated .grad or any other state kept from one
    call to the next shows up as a difference when the outputs are compared outside.
    """
    results: list[Outputs] = []
    for which in ("first", "second"):
        got = unpack(call(), which)
        outs = got if isinstance(got, dict) else {name: got}
        results.append({k: snap(v) for k, v in outs.items()})
    first, second = results
    return {**first, **{f"{k}_second_call": v for k, v in second.items()}}


def timed(call: Callable[[Any, dict[str, Any], CaseContext], object]) -> Callable[
        [Any, dict[str, Any], CaseContext], Callable[[], object]]:
    """A driver's `timed` from its one-call function: `timed = kit.timed(_call)`.

    The harness times the returned thunk (warm-up, repeats, median); each timed call is
    `call(submission, inputs, case)`, with nothing rebuilt outside it.
    """

    def make(sub: Any, inputs: dict[str, Any], case: CaseContext) -> Callable[[], object]:
        return lambda: call(sub, inputs, case)

    make.__doc__ = f"Time {getattr(call, '__name__', 'the call')}(submission, inputs, case)."
    return make


def diagnostic(call: Callable[[], object]) -> torch.Tensor:
    """A diagnostic output (problem.toml `diagnostics`): `call()` snapshotted, or an empty
    tensor when it raises or returns no tensor, so that it can only ever differ: a diagnostic
    never changes a case's verdict, which the problem's own outputs decide. A rule violation
    is still one."""
    try:
        got = call()
    except RuleViolation:
        raise
    except Exception:  # noqa: BLE001 - the student's module failing on its own is only a difference
        return torch.empty(0)
    return snap(got) if isinstance(got, torch.Tensor) else torch.empty(0)


def forget_grads(inputs: Mapping[str, object]) -> None:
    """Drop a `.grad` the submission left on an input that does not require grad.

    The judge checks that inputs come back unchanged, `.grad` included; use this where the
    course's own grader does not look at such a stale `.grad` (it has no effect on anything)."""
    for t in inputs.values():
        if isinstance(t, torch.Tensor) and not t.requires_grad and t.grad is not None:
            t.grad = None


def grads(output: torch.Tensor, upstream: torch.Tensor, wrt: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of `(output * upstream).sum()` with respect to each of `wrt`, by autograd.

    A tensor the output does not depend on gets a zero gradient, so that it is compared outside
    the sandbox like any other (a missing dependency is a wrong answer there, not an error here).
    """
    got = torch.autograd.grad((output * upstream).sum(), list(wrt), allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(wrt, got, strict=True)]


def reset_check(module: torch.nn.Module, atol: float = 1e-5, rtol: float = 1e-5) -> int:
    """The NJU course's reset check: for each named parameter (in the order the module lists
    them while the resets run), copy it, call `module.reset_parameters()`, and compare the
    parameter of that name with the copy (same shape, dtype and device; values within atol /
    rtol). Returns how many fail; return it as an output (`ints`) so it is compared outside.
    A no-op reset passes, as in the course; a reset that draws without re-seeding fails."""
    failed = 0
    reset = typing.cast(Callable[[], object], module.reset_parameters)
    for name, param in module.named_parameters():
        before = param.detach().clone()
        reset()
        after = dict(module.named_parameters()).get(name)
        if after is None:  # a name gone after the reset is not compared (nor is it by the course)
            continue
        same = (after.shape, after.dtype, after.device) == (before.shape, before.dtype, before.device)
        if not (same and bool(torch.isclose(before, after.detach(), rtol=rtol, atol=atol).all())):
            failed += 1
    return failed
