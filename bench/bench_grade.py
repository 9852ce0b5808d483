"""Wall time of one `grade` per bundled problem, and how much of it is the submission's compute.

Run: .venv/bin/python bench/bench_grade.py [--repeats N] [--warm N] [--no-zygote]
         [--spread N [--solution PATH] [--load K] [--spread-only]] [SLUG ...]

For each problem it grades the first accepted solution and prints: total wall time; the
sandboxed run's wall time; time to the harness's first message (interpreter + torch start-up
inside the sandbox); the sum of per-case times (fork, import of the submission, input
generation, the driver's calls and, on timed cases, the timing loop); the timed loops alone
(trusted medians x iterations); and the rest (reference runs, static checks, comparison).
Then the same cases run in this process without any sandbox ("pure": the solution's own
compute, input generation and timing loops included; torch.manual_seed() records no call
stacks for device backends that cannot initialise, as in the case child; glibc's malloc keeps
freed blocks, as the sandbox's environment makes it), the judge's overhead
(total - pure) and total / pure. `--warm` sets the warm sandboxes kept per shape of run (0: every run starts
cold), `--no-zygote` keeps them single-use (no zygotes); `--spread N` regrades one timed
problem N times and prints the speed ratio's spread (`--solution` picks the solution, `--load K`
runs K busy processes beside the regrades, `--spread-only` skips the table).
A cold `python -c "import torch"` is timed first, for scale.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core.grading.pipeline as pipeline
from core.grading.devices import runnable
from core.grading.layout import install_files
from core.problem import discover_problems, solution_files
from core.settings import REPO_ROOT, Settings
from sandbox import kit
from sandbox.backends.base import RunResult, RunSpec, harness_env
from sandbox.harness import child, loader
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
        # A known solution, graded as `problem validate` does: over the package's support tree.
        report = pipeline.grade_detailed(problem, solution_files(path), settings=settings,
                                         backend=traced_backend(settings), support=problem.support_files()).report
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


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt(3)


def malloc_as_in_the_sandbox() -> None:
    """glibc's malloc in this process tuned as the sandbox's environment tunes it (blocks kept
    for reuse), so that "pure" pays no page faults the sandboxed run does not pay either."""
    env = harness_env()
    libc = ctypes.CDLL(None)
    libc.mallopt(M_MMAP_THRESHOLD, int(env["MALLOC_MMAP_THRESHOLD_"]))
    libc.mallopt(M_TRIM_THRESHOLD, int(env["MALLOC_TRIM_THRESHOLD_"]))


def pure_compute(problem: Any, settings: Settings) -> float:
    """The first accepted solution's cases (those this machine runs) in this process, without a
    sandbox: input generation, the driver's calls and, on timed cases, warm-up + repeats."""
    _, path = next((v, p) for v, p in problem.solutions() if v == "accepted")
    problem, _notes = runnable(problem, settings)
    # As in the case child: torch.manual_seed() formats no stack for device backends that
    # cannot initialise here (torch's bookkeeping, not the submission's compute).
    child.unrecorded_lazy_calls("cuda" if any(c.device == "cuda" for c in problem.config.cases) else "cpu")
    installed = install_files(problem, solution_files(path), problem.support_files())
    with tempfile.TemporaryDirectory() as tmp:
        for rel, data in installed.files.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_bytes(data)
        for root in {e.split(":")[0].split(".")[0] for e in problem.config.entry_points}:
            loader._forget(root)  # another problem's `src` package
        spec = importlib.util.spec_from_file_location(f"driver_{problem.slug.replace('-', '_')}",
                                                      problem.path / "driver.py")
        assert spec and spec.loader
        driver = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(driver)
        t0 = time.monotonic()
        sub = loader.load_submission(tmp, problem.config.entry_points, installed.single_module).namespace
        timing = problem.config.timing
        for c in problem.config.cases:
            case = kit.make_case(name=c.name, params=c.params, dtype=c.dtype, seed=c.seed,
                                 device="cpu" if c.device == "any" else c.device,
                                 mutable_inputs=c.mutable_inputs)
            inputs = driver.generate_inputs(case, case.seed)
            driver.run(sub, inputs, case)
            if c.timed:
                fresh = driver.generate_inputs(case, case.seed)
                thunk = (driver.timed(sub, fresh, case) if hasattr(driver, "timed")
                         else functools.partial(driver.run, sub, fresh, case))
                for _ in range(timing.warmup + timing.repeats):
                    thunk()
        elapsed = time.monotonic() - t0
        sys.path.remove(tmp)
    return elapsed


def spread(problem: Any, settings: Settings, n: int, solution: str | None = None, load: int = 0) -> None:
    """The speed ratio of n regrades of one accepted solution (its first timed case), with
    `load` busy-looping processes beside the grades (a worker busy with other work)."""
    path = (problem.path / solution if solution else
            next(p for v, p in problem.solutions() if v == "accepted"))
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    ratios, used = [], set()
    try:
        for _ in range(n):
            report = pipeline.grade_detailed(problem, solution_files(path), settings=settings,
                                             support=problem.support_files()).report
            timed = [c.timings for c in report.cases if c.timings][:1]
            ratios += [t.ratio for t in timed]
            used.update(getattr(t, "clock", "wall") for t in timed)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    if ratios:
        q = statistics.quantiles(ratios, n=10) if len(ratios) >= 2 else [ratios[0]] * 9
        print(f"{problem.slug} ({path.name}, {load} busy processes beside, clock {'/'.join(sorted(used))}): "
              f"speed ratio over {len(ratios)} regrades: median {statistics.median(ratios):.3f}, "
              f"min {min(ratios):.3f}, max {max(ratios):.3f}, p10-p90 {q[0]:.3f}-{q[-1]:.3f}, "
              f"stdev {statistics.pstdev(ratios):.3f}")


def main() -> None:
    """Print one row per problem: medians over --repeats gradings."""
    parser = argparse.ArgumentParser()
    parser.add_argument("slugs", nargs="*")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warm", type=int, default=Settings().sandbox_warm)
    parser.add_argument("--no-zygote", action="store_true")
    parser.add_argument("--spread", type=int, default=0)
    parser.add_argument("--solution", help="the solution --spread regrades (a path in the package)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside --spread's regrades")
    parser.add_argument("--spread-only", action="store_true", help="skip the timing table")
    args = parser.parse_args()
    malloc_as_in_the_sandbox()
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    cold_import = time.monotonic() - t0
    print(f"cold `python -c 'import torch'`: {cold_import:.2f} s; warm sandboxes per shape: {args.warm}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="bench", sandbox="process", sandbox_warm=args.warm,
                            sandbox_zygote=not args.no_zygote)
        problems = [p for p in discover_problems(REPO_ROOT / "problems") if not args.slugs or p.slug in args.slugs]
        print(f"{'problem':<30} {'total':>7} {'sandbox':>8} {'startup':>8} {'cases':>7} {'timed':>7} "
              f"{'other':>7} {'pure':>7} {'overhead':>8} {'x pure':>7} {'/import':>7}  "
              f"(seconds, median of {args.repeats}; a first run warms the reference cache)")
        for problem in problems:
            if args.spread_only:
                spread(problem, settings, args.spread, args.solution, args.load)
                continue
            measure(problem, settings)  # warm the reference cache (and the warm sandboxes)
            time.sleep(2)  # let the warm sandboxes finish importing torch, as between submissions
            rows = []
            for _ in range(args.repeats):
                rows.append(measure(problem, settings))
                time.sleep(2)
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            pure = statistics.median(pure_compute(problem, settings) for _ in range(args.repeats))
            print(f"{problem.slug:<30} {med['total_s']:7.2f} {med['sandbox_s']:8.2f} {med['startup_s']:8.2f} "
                  f"{med['cases_s']:7.2f} {med['timed_loops_s']:7.2f} {med['other_s']:7.2f} {pure:7.2f} "
                  f"{med['total_s'] - pure:8.2f} {med['total_s'] / pure:7.1f} {med['total_s'] / cold_import:7.2f}")
            if args.spread:
                spread(problem, settings, args.spread, args.solution, args.load)


if __name__ == "__main__":
    main()
