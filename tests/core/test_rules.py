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
