"""Wall time of one `grade` per bundled problem, and how much of it is the submission's compute.

Run: .venv/bin/python bench/bench_grade.py [--repeats N] [SLUG ...]

For each problem it grades the first accepted solution and prints: total wall time; the
sandboxed run's wall time; time to the harness's first message (interpreter + torch start-up
inside the sandbox); the sum of per-case times (fork, import of the submission, input
generation, the driver's calls and, on timed cases, the timing loop); the timed loops alone
(trusted medians x iterations); and the rest (reference runs, static checks, comparison).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core.grading.pipeline as pipeline
from core.problem import discover_problems
from core.settings import REPO_ROOT, Settings
from sandbox.backends.base import RunResult, RunSpec
from sandbox.protocol import CaseResult, Event


def measure(problem: Any, settings: Settings) -> dict[str, float]:
    """Grade the problem's first accepted solution once, with timestamps on every message."""
    stamps: list[tuple[float, Event | CaseResult]] = []
    runs: list[float] = []
    real_get_backend = pipeline.get_backend

    def traced_backend(s: Settings) -> Any:
        backend = real_get_backend(s)

        class Traced:
            name = backend.name

            def available(self) -> tuple[bool, str]:
                return backend.available()

            def run(self, spec: RunSpec) -> RunResult:
                t0 = time.monotonic()
                inner = spec.on_message

                def on(msg: Event | CaseResult) -> None:
                    stamps.append((time.monotonic() - t0, msg))
                    if inner:
                        inner(msg)

                spec.on_message = on
                result = backend.run(spec)
                runs.append(time.monotonic() - t0)
                return result

        return Traced()

    pipeline.get_backend = traced_backend
    try:
        _, path = next((v, p) for v, p in problem.solutions() if v == "accepted")
        t0 = time.monotonic()
        report = pipeline.grade(problem, {path.name: path.read_bytes()}, settings=settings)
        total = time.monotonic() - t0
    finally:
        pipeline.get_backend = real_get_backend
    assert report.verdict.value == "accepted", report.verdict
    first = stamps[0][0] if stamps else 0.0
    starts = {m.case: t for t, m in stamps if isinstance(m, Event) and m.kind == "case_start"}
    cases = sum(t - starts[m.case] for t, m in stamps if isinstance(m, CaseResult))
    timed = 0.0
    for c in report.cases:
        if c.timings:
            n = problem.config.timing.warmup + problem.config.timing.repeats
            timed += c.timings.submission_ms * n / 1000
    return {"total_s": total, "sandbox_s": runs[0] if runs else 0.0, "startup_s": first,
            "cases_s": cases, "timed_loops_s": timed, "other_s": total - (runs[0] if runs else 0.0)}


def main() -> None:
    """Print one row per problem: medians over --repeats gradings."""
    parser = argparse.ArgumentParser()
    parser.add_argument("slugs", nargs="*")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="bench", sandbox="process")
        problems = [p for p in discover_problems(REPO_ROOT / "problems") if not args.slugs or p.slug in args.slugs]
        print(f"{'problem':<20} {'total':>7} {'sandbox':>8} {'startup':>8} {'cases':>7} {'timed':>7} "
              f"{'other':>7}  (seconds, median of {args.repeats}; a first run warms the reference cache)")
        for problem in problems:
            measure(problem, settings)  # warm the reference cache
            rows = [measure(problem, settings) for _ in range(args.repeats)]
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            share = 100 * med["cases_s"] / med["total_s"]
            print(f"{problem.slug:<20} {med['total_s']:7.2f} {med['sandbox_s']:8.2f} {med['startup_s']:8.2f} "
                  f"{med['cases_s']:7.2f} {med['timed_loops_s']:7.2f} {med['other_s']:7.2f}  "
                  f"submission's own work {share:.0f}% of the total")


if __name__ == "__main__":
    main()
