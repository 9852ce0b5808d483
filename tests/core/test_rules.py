"""The runtime tracer, in-process (the sandboxed path is covered by the grading tests)."""

from __future__ import annotations

import pytest
import torch

from sandbox.harness import RuleViolation
from sandbox.harness.rules import RuleTracer, qualified_name


def _run(fn, forbidden=(), autograd=True):  # type: ignore[no-untyped-def]
    tracer = RuleTracer(list(forbidden), autograd)
    with pytest.raises(RuleViolation), tracer:
        fn()
    return tracer.violations


def test_every_autograd_route_is_caught() -> None:
    w = torch.ones(3)

    def backward() -> None:
        x = torch.ones(3)
        x.requires_grad_()
        (x * w).sum().backward()

    def setter() -> None:
        x = torch.ones(3)
        x.requires_grad = True

    def factory() -> None:
        torch.zeros(3, requires_grad=True)

    def requires_grad_() -> None:
        torch.ones(3).requires_grad_()

    for fn in (backward, setter, factory, requires_grad_):
        assert _run(fn)


def test_reading_attributes_of_a_parameter_is_not_compute() -> None:
    tracer = RuleTracer([], True)
    with tracer:
        p = torch.nn.Parameter(torch.ones(3))
        assert p.grad_fn is None and p.shape == (3,)
    assert tracer.violations == []


def test_switching_grad_off_is_allowed() -> None:
    tracer = RuleTracer([], True)
    with tracer:
        torch.ones(3).requires_grad_(False)
        with torch.set_grad_enabled(False):
            torch.ones(3) * 2
    assert tracer.violations == []


def test_grad_enabled_compute_on_leaf_that_requires_grad() -> None:
    leaf = torch.ones(3, requires_grad=True)  # made outside the tracer
    violations = _run(lambda: leaf * 2)
    assert "gradients enabled" in violations[0]


def test_swallowed_violation_is_still_recorded() -> None:
    tracer = RuleTracer(["torch.nn.functional.linear"], False)
    with tracer:
        try:
            torch.nn.functional.linear(torch.ones(2), torch.ones(3, 2))
        except Exception:  # noqa: BLE001 - a student's catch-all must not hide it
            pass
        except BaseException:  # noqa: BLE001 - the tracer raises a BaseException
            pass
    assert tracer.violations == ["forbidden call: torch.nn.functional.linear"]


def test_allowed_code_runs_and_names_are_stable() -> None:
    tracer = RuleTracer(["torch.nn.functional.linear"], True)
    with tracer:
        out = torch.ones(2, 3) @ torch.ones(3, 4)
        with torch.no_grad():
            out = out * 2
    assert tracer.violations == [] and out.shape == (2, 4)
    assert qualified_name(torch.matmul) == "torch.matmul"
    assert qualified_name(torch.Tensor.backward) == "Tensor.backward"


def _without_torch_function(fn):  # type: ignore[no-untyped-def]
    """Run fn with torch-function dispatch switched off, the handle fetched indirectly (the
    way a student hides it from the source scan)."""
    disable = getattr(getattr(torch, "_" + "C"), "Disable" + "Torch" + "Function")
    with disable():
        return fn()


def test_backward_with_torch_function_disabled_is_caught_by_the_engine_trap() -> None:
    def sneaky() -> None:
        def inner() -> None:
            x = torch.nn.Parameter(torch.ones(3))
            (x * 2).sum().backward()

        _without_torch_function(inner)

    violations = _run(sneaky)
    assert any("backward pass" in v for v in violations), violations


def test_graph_recording_with_torch_function_disabled_is_recorded() -> None:
    tracer = RuleTracer([], True)
    with tracer:
        def inner() -> torch.Tensor:
            w = torch.nn.Parameter(torch.ones(3, 3))
            return torch.ones(2, 3) @ w  # saves its inputs for a backward pass

        _without_torch_function(inner)
    assert any("recorded an autograd graph" in v for v in tracer.violations), tracer.violations
    assert tracer.intact()


def test_traps_are_gone_after_the_block_and_tampering_is_noticed() -> None:
    from torch.autograd.variable import Variable

    engine = Variable._execution_engine
    tracer = RuleTracer([], True)
    with tracer:
        torch._C._autograd._pop_saved_tensors_default_hooks()  # the student removes a trap
    assert not tracer.intact()
    assert Variable._execution_engine is engine
    assert torch._C._autograd._top_saved_tensors_default_hooks(False) is None
    # Nothing is set when autograd is allowed.
    plain = RuleTracer([], False)
    with plain:
        assert Variable._execution_engine is engine
        x = torch.nn.Parameter(torch.ones(2))
        (x * 3).sum().backward()
    assert plain.violations == [] and plain.intact()


def test_a_tracer_with_nothing_to_enforce_stays_off_the_dispatch_path() -> None:
    # No forbidden call and autograd allowed: no torch-function mode is pushed (every torch call
    # would otherwise go through Python for nothing); one with a rule is pushed.
    plain = RuleTracer([], False)
    with plain:
        assert torch._C._len_torch_function_stack() == plain.depth == 0
    strict = RuleTracer(["torch.nn.functional.linear"], False)
    with strict:
        assert torch._C._len_torch_function_stack() == strict.depth == 1
    assert torch._C._len_torch_function_stack() == 0
