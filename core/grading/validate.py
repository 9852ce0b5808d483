"""`problem validate`: the verdict matrix of solutions/, the reference check, tolerance margins."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, Field

from core.grading.devices import runnable as runnable_cases
from core.grading.pipeline import Graded, grade_detailed
from core.problem import Problem, solution_files
from core.settings import Settings
from core.verdicts import Verdict


class SolutionResult(BaseModel):
    """One known solution and what it got."""

    file: str
    expected: str
    verdict: str
    ok: bool
    score: float
    max_error_ratio: float | None = None  # worst |err|/tolerance over cases that compared
    wall_s: float | None = None
    failed_cases: list[str] = Field(default_factory=list)
    passed_cases: int = 0
    total_cases: int = 0
    # submission/reference medians on the timed cases, from this same grade (no extra runs):
    # what an instructor sets timing.budget_ratio from.
    speed_ratio: float | None = None  # geometric mean over the timed cases
    case_speed_ratios: dict[str, float] = Field(default_factory=dict)


class ValidationReport(BaseModel):
    """Everything an instructor needs before publishing."""

    problem: str
    version: str
    ok: bool
    errors: list[str] = Field(default_factory=list)
    reference_verdict: str = ""
    reference_timings_ms: dict[str, float] = Field(default_factory=dict)
    solutions: list[SolutionResult] = Field(default_factory=list)
    accepted_max_error_ratio: float | None = None  # must stay < 1; smaller is a wider margin
    wrong_min_error_ratio: float | None = None  # must be > 1; larger is a wider margin
    margin: float | None = None  # wrong_min / accepted_max
    budget_ratio: float | None = None  # the problem's timing.budget_ratio, beside the speed ratios
    warnings: list[str] = Field(default_factory=list)  # e.g. a must-fail solution passing cases
    notes: list[str] = Field(default_factory=list)  # e.g. GPU cases this machine could not run


def validate(problem: Problem, *, settings: Settings, jobs: int = 1) -> ValidationReport:
    """Grade the reference and every solution under solutions/ (files and folders, each with the
    package's support/ tree beneath) and check the expected verdicts.

    The reference is graded first (it fills the reference cache); with jobs > 1 the solutions
    are then graded that many at a time, each in its own sandbox. Parallel runs share the
    machine, so their timings are noisier: keep jobs=1 when a TLE margin is in question.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    report = ValidationReport(problem=problem.slug, version=problem.content_hash, ok=True,
                              budget_ratio=problem.config.timing.budget_ratio)
    support = problem.support_files()
    ref = grade_detailed(problem, {"reference.py": (problem.path / "reference.py").read_bytes()},
                         settings=settings, support=support)
    report.reference_verdict = ref.report.verdict.value
    report.notes = runnable_cases(problem, settings)[1]  # the cuda cases this machine leaves out
    report.reference_timings_ms = {c.name: c.timings.reference_ms for c in ref.report.cases if c.timings}
    if ref.report.verdict is not Verdict.ACCEPTED:
        bad = [f"{c.name}: {c.verdict.value} {c.message}"
               for c in ref.report.cases if c.verdict is not Verdict.ACCEPTED]
        report.errors.append("the reference does not pass every case: " + "; ".join(bad))
    solutions = problem.solutions()
    valid = {v.value for v in Verdict}
    if not any(exp == "accepted" for exp, _ in solutions):
        report.errors.append("solutions/accepted/ holds no solution")
    if not any(exp != "accepted" for exp, _ in solutions):
        report.errors.append("no must-fail solutions under solutions/")
    accepted_ratios: list[float] = []
    wrong_ratios: list[float] = []
    for expected, _ in solutions:
        if expected not in valid:
            report.errors.append(f"solutions/{expected}/ is not a verdict name")
    runnable = [(exp, path) for exp, path in solutions if exp in valid]

    def run_one(path: Path) -> Graded:
        return grade_detailed(problem, solution_files(path), settings=settings, support=support)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run_one, [path for _, path in runnable]))
    for (expected, path), graded in zip(runnable, results, strict=True):
        r = graded.report
        worst = max(graded.error_ratios.values()) if graded.error_ratios else None
        res = SolutionResult(
            file=str(path.relative_to(problem.path)), expected=expected, verdict=r.verdict.value,
            ok=r.verdict.value == expected, score=r.score, max_error_ratio=worst, wall_s=r.wall_s,
            failed_cases=[c.name for c in r.cases if c.verdict is not Verdict.ACCEPTED],
            passed_cases=sum(1 for c in r.cases if c.verdict is Verdict.ACCEPTED), total_cases=len(r.cases),
            speed_ratio=r.speed_ratio,
            case_speed_ratios={c.name: c.timings.ratio for c in r.cases if c.timings and c.timings.ratio > 0},
        )
        report.solutions.append(res)
        if not res.ok:
            report.errors.append(f"{res.file}: expected {expected}, got {r.verdict.value}")
        warning = must_fail_warning(res)
        if warning:
            report.warnings.append(warning)
        if expected == "accepted" and worst is not None:
            accepted_ratios.append(worst)
        if expected == "wrong_answer" and worst is not None:
            wrong_ratios.append(worst)
    if accepted_ratios:
        report.accepted_max_error_ratio = max(accepted_ratios)
    if wrong_ratios:
        report.wrong_min_error_ratio = min(wrong_ratios)
    a, w = report.accepted_max_error_ratio, report.wrong_min_error_ratio
    if a is not None and w is not None:
        report.margin = math.inf if a == 0 else w / a
    report.ok = not report.errors
    return report


def must_fail_warning(result: SolutionResult) -> str | None:
    """The warning for a solution expected to fail that passes some cases (often a tolerance
    loose enough to let a wrong answer through on those cases), or None."""
    if result.expected == Verdict.ACCEPTED.value or result.passed_cases == 0 or result.total_cases == 0:
        return None
    return (f"must-fail solution {result.file} passes {result.passed_cases} of {result.total_cases} cases "
            f"(expected {result.expected}): check the tolerances of the cases it passes")
