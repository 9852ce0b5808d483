"""The validation report's speed ratios and must-fail warnings (issue 16), from a real
validation in the process sandbox of a copy of the vec-scale fixture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.grading import validate
from core.grading.validate import SolutionResult, must_fail_warning
from core.problem import load_problem
from core.settings import Settings
from tests.conftest import FIXTURES

SOL = FIXTURES / "problems" / "vec-scale" / "solutions"
# Wrong only where n == 7 (the hidden float64 case): it passes the other two cases, as a
# must-fail solution does when a tolerance is loose.
PARTLY_WRONG = ("def scale(x, alpha):\n"
                "    return x * alpha + (1 if x.numel() == 7 else 0)\n")


def _package(tmp_path: Path) -> Path:
    """vec-scale with one accepted and one partly wrong solution (two graded, so it stays fast)."""
    root = tmp_path / "vec-scale"
    shutil.copytree(FIXTURES / "problems" / "vec-scale", root, ignore=shutil.ignore_patterns("solutions"))
    (root / "solutions" / "accepted").mkdir(parents=True)
    shutil.copy(SOL / "accepted" / "times.py", root / "solutions" / "accepted" / "times.py")
    (root / "solutions" / "wrong_answer").mkdir()
    (root / "solutions" / "wrong_answer" / "partly.py").write_text(PARTLY_WRONG)
    return root


@pytest.mark.sandbox
def test_report_has_speed_ratios_and_must_fail_warning(tmp_path: Path, grading_settings: Settings) -> None:
    report = validate(load_problem(_package(tmp_path)), settings=grading_settings)
    by = {s.file: s for s in report.solutions}
    accepted = by["solutions/accepted/times.py"]
    # The ratio comes from the grade the validation ran: the timed case only, positive.
    assert set(accepted.case_speed_ratios) == {"timed"}
    assert accepted.case_speed_ratios["timed"] > 0
    assert accepted.speed_ratio == pytest.approx(accepted.case_speed_ratios["timed"], rel=1e-2)
    assert (accepted.passed_cases, accepted.total_cases) == (3, 3)
    assert report.budget_ratio == 20.0
    partly = by["solutions/wrong_answer/partly.py"]
    assert partly.verdict == "wrong_answer" and partly.ok
    assert (partly.passed_cases, partly.total_cases) == (2, 3)
    assert report.ok  # a warning, not an error
    assert report.warnings == [
        "must-fail solution solutions/wrong_answer/partly.py passes 2 of 3 cases (expected wrong_answer): "
        "check the tolerances of the cases it passes"]


def _result(expected: str, passed: int, total: int = 4) -> SolutionResult:
    return SolutionResult(file=f"solutions/{expected}/x.py", expected=expected, verdict=expected, ok=True,
                          score=passed, passed_cases=passed, total_cases=total)


def test_must_fail_warning_only_for_must_fail_solutions_that_pass_cases() -> None:
    assert must_fail_warning(_result("accepted", 4)) is None
    assert must_fail_warning(_result("wrong_answer", 0)) is None
    warning = must_fail_warning(_result("runtime_error", 1))
    assert warning is not None and warning.startswith("must-fail solution solutions/runtime_error/x.py passes 1 of 4")
