"""Every bundled problem validates: reference passes, each known solution gets its verdict,
and the tolerance separates accepted from wrong solutions."""

from __future__ import annotations

import pytest

from core.grading import validate
from core.problem import load_problem
from core.settings import REPO_ROOT, Settings

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
SLUGS = ["manual-linear", "multi-head-matmul", "importance-matmul", "rope"]


@pytest.mark.parametrize("slug", SLUGS)
def test_problem_validates(slug: str, grading_settings: Settings) -> None:
    problem = load_problem(REPO_ROOT / "problems" / slug)
    report = validate(problem, settings=grading_settings)
    mismatches = [f"{s.file}: expected {s.expected}, got {s.verdict}" for s in report.solutions if not s.ok]
    assert report.ok, "\n".join(report.errors + mismatches)
    assert report.reference_verdict == "accepted"
    assert report.accepted_max_error_ratio is not None and report.accepted_max_error_ratio < 1
    assert report.wrong_min_error_ratio is not None and report.wrong_min_error_ratio > 1
    print(f"{slug}: accepted max err/tol {report.accepted_max_error_ratio:.3g}, "
          f"wrong min err/tol {report.wrong_min_error_ratio:.3g}")
