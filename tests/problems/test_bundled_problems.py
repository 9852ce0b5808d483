"""Every bundled problem validates: reference passes, each known solution gets its verdict,
and the tolerance separates accepted from wrong solutions.

Problems are discovered (every folder under problems/ with a problem.toml), so a new problem is
tested the moment it lands. Solutions are graded two at a time (`validate(jobs=2)`): on a CPU
runner that is the CPU cases in parallel; TLE margins are checked by `problem validate` itself.
"""

from __future__ import annotations

import pytest

from core.grading import validate
from core.problem import load_problem
from core.settings import REPO_ROOT, Settings

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
PROBLEMS = REPO_ROOT / "problems"
SLUGS = sorted(p.name for p in PROBLEMS.iterdir() if (p / "problem.toml").is_file())


def test_discovery_finds_the_bundled_problems() -> None:
    assert {"manual-linear", "multi-head-matmul", "importance-matmul", "rope"} <= set(SLUGS)


@pytest.mark.parametrize("slug", SLUGS)
def test_problem_validates(slug: str, grading_settings: Settings) -> None:
    problem = load_problem(PROBLEMS / slug)
    report = validate(problem, settings=grading_settings, jobs=2)
    mismatches = [f"{s.file}: expected {s.expected}, got {s.verdict}" for s in report.solutions if not s.ok]
    assert report.ok, "\n".join(report.errors + mismatches)
    assert report.reference_verdict == "accepted"
    assert report.accepted_max_error_ratio is not None and report.accepted_max_error_ratio < 1
    assert report.wrong_min_error_ratio is not None and report.wrong_min_error_ratio > 1
    print(f"{slug}: accepted max err/tol {report.accepted_max_error_ratio:.3g}, "
          f"wrong min err/tol {report.wrong_min_error_ratio:.3g}")
