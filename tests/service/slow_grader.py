"""Graders for the worker tests, loaded by real worker processes through settings.grader.

They stand in for the sandboxed pipeline where a test needs control over timing or failure
(a kill in the middle of grading, an infrastructure error on every attempt)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from core.errors import InfrastructureError
from core.report import GradeReport

from .helpers import fake_grade


def slow(
    problem: Any,
    files: dict[str, bytes],
    *,
    settings: Any,
    progress: Callable[[int, int], None] | None = None,
) -> GradeReport:
    """fake_grade, but each case takes TJ_TEST_CASE_SLEEP_S seconds (default 2)."""
    delay = float(os.environ.get("TJ_TEST_CASE_SLEEP_S", "2"))

    def slow_progress(done: int, total: int) -> None:
        time.sleep(delay)
        if progress:
            progress(done, total)

    return fake_grade(problem, files, settings=settings, progress=slow_progress)


def broken(
    problem: Any,
    files: dict[str, bytes],
    *,
    settings: Any,
    progress: Callable[[int, int], None] | None = None,
) -> GradeReport:
    """Always an infrastructure failure (the sandbox is gone)."""
    raise InfrastructureError("sandbox backend unavailable (test)")
