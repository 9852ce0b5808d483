"""The grading pipeline end to end in the real bubblewrap sandbox, on the tiny fixture problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import SandboxUnavailableError
from core.grading import grade, grade_detailed, validate
from core.problem import Problem
from core.settings import Settings
from core.verdicts import Verdict
from tests.conftest import FIXTURES

pytestmark = pytest.mark.sandbox
SOL = FIXTURES / "problems" / "vec-scale" / "solutions"


def _grade(problem: Problem, settings: Settings, source: str, name: str = "mine.py"):  # type: ignore[no-untyped-def]
    return grade(problem, {name: source.encode()}, settings=settings)


def test_accepted_with_progress_and_timings(vec_scale: Problem, grading_settings: Settings) -> None:
    seen: list[tuple[int, int]] = []
    report = grade(vec_scale, {"x.py": (SOL / "accepted" / "times.py").read_bytes()},
                   settings=grading_settings, progress=lambda k, n: seen.append((k, n)))
    assert report.verdict is Verdict.ACCEPTED and report.score == report.max_score == 3
    assert seen == [(1, 3), (2, 3), (3, 3)]
    timed = next(c for c in report.cases if c.name == "timed")
    assert timed.timings is not None and timed.timings.submission_ms > 0 and timed.timings.reference_ms > 0
    assert report.speed_ratio is not None


def test_wrong_answer_feedback_public_only(vec_scale: Problem, grading_settings: Settings) -> None:
    report = _grade(vec_scale, grading_settings, "def scale(x, alpha):\n    print('dbg', x.shape)\n"
                    "    return x * alpha + (1 if x.dtype.is_floating_point and x.numel()==7 else 0)\n")
    by = {c.name: c for c in report.cases}
    assert by["small"].verdict is Verdict.ACCEPTED
    assert by["small"].stdout and "dbg" in by["small"].stdout
    hidden = by["hidden-f64"]
    assert hidden.verdict is Verdict.WRONG_ANSWER
    assert hidden.feedback is None and hidden.stdout is None
    assert "1" not in hidden.message  # only the generic message: nothing about the data
    wrong = _grade(vec_scale, grading_settings, "def scale(x, alpha):\n    return x * alpha + 1\n")
    small = next(c for c in wrong.cases if c.name == "small")
    assert small.feedback is not None and small.feedback["check"] == "value"
    assert small.feedback["first_indices"][0] == [0]
    assert small.feedback["max_abs_error"] == pytest.approx(1.0)


def test_runtime_error_traceback_has_no_judge_frames(vec_scale: Problem, grading_settings: Settings) -> None:
    report = _grade(vec_scale, grading_settings, "def helper(x):\n    return 1 / 0\n\ndef scale(x, a):\n"
                    "    return helper(x)\n")
    small = next(c for c in report.cases if c.name == "small")
    assert report.verdict is Verdict.RUNTIME_ERROR
    assert 'File "solution.py", line 2, in helper' in small.message
    assert "ZeroDivisionError" in small.message
    assert "sandbox" not in small.message and "driver" not in small.message


def test_compile_errors(vec_scale: Problem, grading_settings: Settings) -> None:
    syntax = _grade(vec_scale, grading_settings, "def scale(x, a)\n    return x\n")
    assert syntax.verdict is Verdict.COMPILE_ERROR and "line 1" in syntax.message
    missing = _grade(vec_scale, grading_settings, "def scal(x, a):\n    return x * a\n")
    assert missing.verdict is Verdict.COMPILE_ERROR and "`scale`" in missing.message
    failing_import = _grade(vec_scale, grading_settings, "import not_a_module_xyz\n")
    assert failing_import.verdict is Verdict.COMPILE_ERROR
    assert "not_a_module_xyz" in failing_import.message


def test_rule_violation_runtime_even_when_swallowed(vec_scale: Problem, grading_settings: Settings) -> None:
    src = ("import torch\ndef scale(x, a):\n    try:\n        return getattr(torch, 'm'+'ul')(x, a)\n"
           "    except BaseException:\n        return x * a\n")
    report = _grade(vec_scale, grading_settings, src)
    assert report.verdict is Verdict.RULE_VIOLATION
    assert "torch.mul" in report.cases[0].message


def test_rule_broken_only_while_being_timed(vec_scale: Problem, grading_settings: Settings) -> None:
    """Honest on the checked call, forbidden from the second call on (only the timed loop makes
    one): the timed case is a rule violation, not a protocol error or an accepted run."""
    src = ("import torch\ncalls = 0\ndef scale(x, a):\n    global calls\n    calls += 1\n"
           "    if calls == 1:\n        return x * a\n    return getattr(torch, 'm' + 'ul')(x, a)\n")
    report = _grade(vec_scale, grading_settings, src)
    by_name = {c.name: c for c in report.cases}
    assert by_name["small"].verdict is Verdict.ACCEPTED
    assert by_name["timed"].verdict is Verdict.RULE_VIOLATION, by_name["timed"].message
    assert report.verdict is Verdict.RULE_VIOLATION  # (the timed case is hidden: no details)


def test_multi_file_submission(vec_scale: Problem, grading_settings: Settings) -> None:
    files = {"solution.py": b"from helpers.ops import scale\n",
             "helpers/__init__.py": b"", "helpers/ops.py": b"def scale(x, a):\n    return x * a\n"}
    assert grade(vec_scale, files, settings=grading_settings).verdict is Verdict.ACCEPTED


def test_validate_reports_matrix_and_margin(vec_scale: Problem, grading_settings: Settings) -> None:
    # Three solutions at a time (the bundled problems' test covers jobs=1): the report keeps
    # the order of solutions/ and each file its own verdict.
    report = validate(vec_scale, settings=grading_settings, jobs=3)
    assert report.ok, report.errors
    assert [s.file for s in report.solutions] == [
        str(p.relative_to(vec_scale.path)) for _, p in vec_scale.solutions()]
    assert all(s.file.split("/")[1] == s.verdict for s in report.solutions)
    assert {s.expected for s in report.solutions} == {
        "accepted", "wrong_answer", "runtime_error", "compile_error", "rule_violation", "time_limit_exceeded"}
    assert report.wrong_min_error_ratio is not None and report.wrong_min_error_ratio > 1
    assert report.accepted_max_error_ratio is not None and report.accepted_max_error_ratio < 1


def test_validate_refuses_zero_jobs(vec_scale: Problem, grading_settings: Settings) -> None:
    with pytest.raises(ValueError, match="jobs"):
        validate(vec_scale, settings=grading_settings, jobs=0)


def test_error_ratio_is_kept_for_validation(vec_scale: Problem, grading_settings: Settings) -> None:
    graded = grade_detailed(vec_scale, {"s.py": b"def scale(x, a):\n    return x * a * (1 + 1e-3)\n"},
                            settings=grading_settings)
    assert graded.report.verdict is Verdict.WRONG_ANSWER
    assert max(graded.error_ratios.values()) > 10


def test_no_backend_means_no_grading(vec_scale: Problem, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import core.sandboxing as sb
    import sandbox.backends.process as proc

    sb._probe.cache_clear()
    monkeypatch.setattr(proc, "find_bwrap", lambda: None)
    settings = Settings(data_dir=tmp_path, sandbox="process", secret_key="x")
    try:
        with pytest.raises(SandboxUnavailableError, match="refusing to run student code unsandboxed"):
            grade(vec_scale, {"s.py": b"def scale(x, a):\n    return x * a\n"}, settings=settings)
    finally:
        sb._probe.cache_clear()


def test_cli_grade_json_contract(grading_settings: Settings) -> None:
    env = {"TENSORJUDGE_DATA_DIR": str(grading_settings.data_dir), "TENSORJUDGE_SECRET_KEY": "cli-secret",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "grade", str(FIXTURES / "problems" / "vec-scale"),
         str(SOL / "wrong_answer" / "plus.py"), "--json"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert out.returncode == 1, out.stderr  # graded, not accepted
    data = json.loads(out.stdout)
    assert data["verdict"] == "wrong_answer" and data["score"] == 0 and data["max_score"] == 3
    for case in data["cases"]:
        assert {"name", "visibility", "verdict", "points", "max_points", "message", "timings"} <= case.keys()
