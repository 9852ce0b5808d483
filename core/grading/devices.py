"""Which of a problem's cases this worker can run: `device = "cuda"` cases need a GPU.

Course-scale cases are declared `device = "cuda"` so that they run on GPU workers only; a CPU
worker (the embedded default, CI, a laptop) grades the other cases and says what it left out.
Production routes a problem with GPU cases to the `gpu` queue (core.services.problems.needs_gpu),
so there every case runs.
"""

from __future__ import annotations

from core.problem import Problem
from core.settings import Settings


def runnable(problem: Problem, settings: Settings) -> tuple[Problem, list[str]]:
    """The problem restricted to the cases this worker can run, and a note about the rest."""
    if settings.gpu_indices:
        return problem, []
    cases = problem.config.cases
    kept = [c for c in cases if c.device != "cuda"]
    if len(kept) == len(cases):
        return problem, []
    left = [c for c in cases if c.device == "cuda"]
    points = sum(c.points for c in left)
    note = (f"{len(left)} case(s) worth {points:g} point(s) need a GPU and were not run on this "
            f"worker (it has none): {', '.join(c.name for c in left)}")
    if not kept:
        return problem, [note]  # nothing runs here: grading raises the usual GPU error
    restricted = Problem(problem.path, problem.config.model_copy(update={"cases": kept}))
    # Same package, same version: the reference cache and the hidden seeds stay as they are.
    restricted.__dict__["content_hash"] = problem.content_hash
    return restricted, [note]
