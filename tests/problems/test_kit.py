"""The authoring kit: seeded generation, structure checks, snapshots, call-twice, typed params."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import sandbox.harness
from sandbox import kit


def test_verdict_exceptions_are_the_harness_own() -> None:
    assert kit.WrongAnswer is sandbox.harness.WrongAnswer
    assert kit.RuleViolation is sandbox.harness.RuleViolation


def test_draws_are_seeded_on_the_cpu_then_placed() -> None:
    case = kit.make_case(dtype="float32")
    a = kit.rng(case, 7).randn(3, 4, scale=0.5)
    gen = torch.Generator().manual_seed(7)
    expected = (torch.randn((3, 4), generator=gen, dtype=torch.float64) * 0.5).to(torch.float32)
    assert a.dtype == torch.float32 and torch.equal(a, expected)
    # another dtype sees the same values, rounded once
    b = kit.rng(kit.make_case(dtype="bfloat16"), 7).randn(3, 4, scale=0.5)
    assert torch.equal(b, expected.double().to(torch.bfloat16))
    assert not torch.equal(a, kit.rng(case, 8).randn(3, 4, scale=0.5))


def test_rand_range_integer_and_keeping_a_draw_on_the_cpu() -> None:
    r = kit.rng(kit.make_case(dtype="float64"), 1)
    u = r.rand(1000, low=-1.0, high=1.0)
    assert u.dtype == torch.float64 and -1 <= float(u.min()) and float(u.max()) < 1 and float(u.min()) < -0.9
    raw = r.randn(5, draw=torch.float32, place=False)
    assert raw.dtype == torch.float32
    assert r.place(raw, torch.float16).dtype == torch.float16
    assert 0 <= r.integer(0, 3) < 3
    assert sorted(r.randperm(6).tolist()) == list(range(6))
    assert r.randint(0, 4, 2, 2).dtype == torch.int64


def test_structure_checks_raise_wrong_answer() -> None:
    t = torch.zeros(2, 3)
    assert kit.tensor(t, "out", shape=(2, 3), dtype=torch.float32, device="cpu") is t
    with pytest.raises(kit.WrongAnswer, match=r"out must be a torch\.Tensor, got a list of length 2"):
        kit.tensor([1, 2], "out")
    with pytest.raises(kit.WrongAnswer, match=r"out has shape \[2, 3\], expected \[3, 2\]"):
        kit.tensor(t, "out", shape=(3, 2))
    with pytest.raises(kit.WrongAnswer, match="dtype"):
        kit.tensor(t, "out", dtype=torch.float64)
    with pytest.raises(kit.WrongAnswer, match="tuple of 3 values, got a tuple of length 2"):
        kit.sequence((1, 2), 3, "f(...)")
    assert kit.sequence([1, 2, 3], 3, "f(...)") == (1, 2, 3)
    with pytest.raises(kit.WrongAnswer, match="must be None, got a Tensor"):
        kit.none(t, "grad_input")
    with pytest.raises(kit.WrongAnswer, match="must be a Module, got an int"):
        kit.instance(3, torch.nn.Module, "Layer(...)")
    with pytest.raises(kit.WrongAnswer, match="has no attribute 'W'"):
        kit.attr(object(), "W", "layer")


def test_snap_is_private() -> None:
    t = torch.ones(2, 2).t()
    s = kit.snap(t)
    t.add_(1)
    assert torch.equal(s, torch.ones(2, 2)) and s.is_contiguous()


def test_call_twice_exposes_state_kept_between_calls() -> None:
    acc = torch.zeros(2)

    def leaky() -> torch.Tensor:
        acc.add_(1)  # returns the same buffer, changed by the next call
        return acc

    out = kit.call_twice(leaky)
    assert out["output"].tolist() == [1, 1] and out["output_second_call"].tolist() == [2, 2]
    both = kit.call_twice(lambda: (torch.ones(1), None), lambda r, which: {"y": kit.tensor(r[0], which)})
    assert set(both) == {"y", "y_second_call"}
    with pytest.raises(kit.WrongAnswer, match=r"the second call's result must be a torch\.Tensor"):
        results = iter([torch.ones(1), None])
        kit.call_twice(lambda: next(results))


def test_timed_rebuilds_nothing() -> None:
    calls: list[int] = []

    def one_call(sub: object, inputs: dict[str, int], case: kit.CaseContext) -> int:
        calls.append(inputs["x"])
        return inputs["x"]

    thunk = kit.timed(one_call)(None, {"x": 3}, kit.make_case())
    assert calls == [] and thunk() == 3 and calls == [3]


@dataclass(frozen=True)
class Params:
    n: int
    alpha: float = 1.0
    calls: tuple[tuple[int, int], ...] = ()
    top_k: int | None = None


def test_params_builds_the_dataclass_with_toml_values() -> None:
    p = kit.params(Params, kit.make_case(params={"n": 2, "alpha": 3, "calls": [[1, 2]], "top_k": 4}))
    assert p == Params(n=2, alpha=3.0, calls=((1, 2),), top_k=4) and isinstance(p.alpha, float)
    with pytest.raises(ValueError, match="unknown params alhpa"):
        kit.params(Params, kit.make_case(params={"n": 2, "alhpa": 1.0}))
    with pytest.raises(ValueError, match="case local"):
        kit.params(Params, kit.make_case(params={}))


def test_requires_grad_and_ints() -> None:
    t = kit.requires_grad(torch.zeros(2), grad=7.0)
    assert t.requires_grad and t.grad is not None and t.grad.tolist() == [7.0, 7.0]
    i = kit.ints([1, 2], kit.make_case())
    assert i.dtype == torch.int64 and i.tolist() == [1, 2]


class _Seeded(torch.nn.Module):
    def __init__(self, reseed: bool) -> None:
        super().__init__()
        self.reseed = reseed
        self.w = torch.nn.Parameter(torch.empty(3, 2))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        g = torch.Generator().manual_seed(7) if self.reseed else None
        with torch.no_grad():
            self.w.copy_(torch.randn(3, 2, generator=g))


def test_reset_check_passes_a_reseeded_or_noop_reset_and_fails_a_drawing_one() -> None:
    assert kit.reset_check(_Seeded(reseed=True)) == 0
    noop = _Seeded(reseed=True)
    noop.reset_parameters = lambda: None  # type: ignore[method-assign]
    assert kit.reset_check(noop) == 0
    assert kit.reset_check(_Seeded(reseed=False)) == 1


def test_grads_fill_unused_with_zeros() -> None:
    x = torch.randn(4, requires_grad=True)
    unused = torch.randn(2, requires_grad=True)
    up = torch.randn(4)
    g_x, g_u = kit.grads(x * 3.0, up, [x, unused])
    assert torch.equal(g_x, 3.0 * up) and torch.equal(g_u, torch.zeros(2))


def test_outputs_checks_a_tuple_result_entry_by_entry() -> None:
    t = torch.ones(2)
    got = kit.outputs((t, None, t * 2), ("out", "gi", "gw"), "f's result", absent=("gi",))
    assert list(got) == ["out", "gw"] and torch.equal(got["gw"], t * 2)
    with pytest.raises(kit.WrongAnswer, match=r"\(out, gi, gw\) must be a tuple of 3 values, got a tuple of length 2"):
        kit.outputs((t, t), ("out", "gi", "gw"), "f's result")
    with pytest.raises(kit.WrongAnswer, match="gi in f's result must be None, got a Tensor"):
        kit.outputs((t, t, t), ("out", "gi", "gw"), "f's result", absent=("gi",))
    with pytest.raises(kit.WrongAnswer, match=r"gw in f's result must be a torch\.Tensor, got None"):
        kit.outputs((t, t, None), ("out", "gi", "gw"), "f's result")


def test_call_once_snapshots_every_output() -> None:
    buf = torch.zeros(2)

    def call() -> tuple[torch.Tensor, torch.Tensor]:
        buf.add_(1)
        return buf, buf * 3

    got = kit.call_once(call, lambda r, which: {"a": r[0], "b": kit.tensor(r[1], which)})
    buf.add_(10)  # a later in-place update of the returned buffer does not reach the snapshot
    assert torch.equal(got["a"], torch.ones(2)) and torch.equal(got["b"], torch.full((2,), 3.0))
    assert torch.equal(kit.call_once(lambda: buf)["output"], buf)


def test_forget_grads_drops_only_a_stale_grad() -> None:
    stale, live = torch.ones(2), torch.ones(2, requires_grad=True)
    stale.grad, live.grad = torch.ones(2), torch.ones(2)
    kit.forget_grads({"stale": stale, "live": live, "n": 3})
    assert stale.grad is None and live.grad is not None


def test_require_raises_the_authors_value_error_with_the_case_name() -> None:
    @dataclass(frozen=True)
    class Params:
        h: int
        heads: int = 1

        def __post_init__(self) -> None:
            kit.require(self.h % self.heads == 0, "h is not divisible by heads")

    assert kit.params(Params, kit.make_case(params={"h": 4, "heads": 2})).heads == 2
    with pytest.raises(ValueError, match="case odd: h is not divisible by heads"):
        kit.params(Params, kit.make_case(name="odd", params={"h": 5, "heads": 2}))
    kit.require(1, "truthy passes")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16, torch.int64])
def test_same_bits_is_value_equality_with_nan_matching_nan(dtype: torch.dtype) -> None:
    a = (torch.arange(24, dtype=torch.float64).reshape(4, 6) - 11.5).to(dtype)
    assert kit.same_bits(a, a.clone()) and kit.same_bits(a.t(), a.t().clone())  # views too
    changed = a.clone()
    changed[2, 3] += 1
    assert not kit.same_bits(a, changed)
    assert not kit.same_bits(a, a.reshape(6, 4)) and not kit.same_bits(a, a.to(torch.complex128))
    if dtype.is_floating_point:
        # different bits, the same values: NaN against NaN, -0.0 against 0.0
        x = torch.tensor([float("nan"), 0.0, 1.0], dtype=dtype)
        y = torch.tensor([-float("nan"), -0.0, 1.0], dtype=dtype)
        assert kit.same_bits(x, y)
        assert not kit.same_bits(x, torch.tensor([float("nan"), 0.0, 2.0], dtype=dtype))
