"""A worker without a GPU grades a problem's CPU cases and notes the `device = "cuda"` ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.grading import grade
from core.grading.devices import runnable
from core.problem import load_problem
from core.settings import Settings
from core.verdicts import Verdict
from tests.conftest import FIXTURES

GPU_CASE = '\n[[cases]]\nname = "course-scale"\ndevice = "cuda"\npoints = 5\nparams = { n = 4096, alpha = 1.5 }\n'


def _with_gpu_case(tmp_path: Path) -> Path:
    pkg = tmp_path / "course-pkg"
    shutil.copytree(FIXTURES / "problems" / "course-pkg", pkg)
    with (pkg / "problem.toml").open("a") as f:
        f.write(GPU_CASE.replace("alpha = 1.5", 'alpha = 1.5, kind = "fn"'))
    return pkg


def test_runnable_keeps_cpu_cases_and_the_version(tmp_path: Path, grading_settings: Settings) -> None:
    problem = load_problem(_with_gpu_case(tmp_path))
    assert not grading_settings.gpu_indices
    cpu, notes = runnable(problem, grading_settings)
    assert [c.name for c in cpu.config.cases] == ["fn", "module"]
    assert cpu.content_hash == problem.content_hash
    assert len(notes) == 1 and "course-scale" in notes[0] and "5 point" in notes[0]
    gpu = grading_settings.model_copy(update={"gpus": "0"})
    same, none = runnable(problem, gpu)
    assert same is problem and none == []


@pytest.mark.sandbox
def test_cpu_worker_grades_the_rest_and_says_so(tmp_path: Path, grading_settings: Settings) -> None:
    problem = load_problem(_with_gpu_case(tmp_path))
    source = (FIXTURES / "problems" / "course-pkg" / "reference.py").read_bytes()
    report = grade(problem, {"mine.py": source}, settings=grading_settings)
    assert report.verdict is Verdict.ACCEPTED
    assert [c.name for c in report.cases] == ["fn", "module"] and report.max_score == 2
    assert any("need a GPU" in n for n in report.notes)


@pytest.mark.sandbox
def test_validate_reports_the_gpu_cases_it_left_out(tmp_path: Path, grading_settings: Settings) -> None:
    from core.grading import validate

    report = validate(load_problem(_with_gpu_case(tmp_path)), settings=grading_settings)
    assert report.reference_verdict == "accepted"
    assert len(report.notes) == 1 and "course-scale" in report.notes[0]
