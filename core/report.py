"""What grading produces: the per-case and per-submission report (the `--json` shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.verdicts import SEVERITY, Verdict


class CaseTiming(BaseModel):
    """Medians measured in one job on one machine, by the trusted side of the harness."""

    submission_ms: float
    reference_ms: float
    ratio: float
    budget_ratio: float
    submission_self_reported_ms: float | None = None
    clock: str = "wall"  # "cpu": the case child's CPU time; "wall": elapsed time (CUDA cases)


class CaseReport(BaseModel):
    """One case's outcome. Hidden cases carry only name, verdict and points."""

    name: str
    visibility: str
    verdict: Verdict
    points: float
    max_points: float
    message: str = ""
    feedback: dict[str, Any] | None = None  # public cases: which check failed and where
    timings: CaseTiming | None = None
    stdout: str | None = None  # public cases only, truncated


class GradeReport(BaseModel):
    """A whole submission's outcome."""

    problem: str
    problem_version: str
    verdict: Verdict
    score: float
    max_score: float
    message: str = ""
    speed_ratio: float | None = None  # geometric mean of timed cases' ratios
    cases: list[CaseReport] = Field(default_factory=list)
    wall_s: float | None = None
    graded: dict[str, str] = Field(default_factory=dict)  # entry symbol -> "src/functional.py:f"
    notes: list[str] = Field(default_factory=list)  # how the submission's files were laid out and loaded

    @staticmethod
    def overall(verdicts: list[Verdict]) -> Verdict:
        """Accepted only if every case is; otherwise the most severe case verdict."""
        if not verdicts:
            return Verdict.SYSTEM_ERROR
        for v in SEVERITY:
            if v in verdicts and v is not Verdict.ACCEPTED:
                return v
        return Verdict.ACCEPTED
