"""The grading pipeline: static checks -> reference -> sandboxed run -> compare -> verdicts."""

from __future__ import annotations

import logging
import math
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from core.compare import Check, compare_case, differing
from core.errors import InfrastructureError
from core.grading import clocks
from core.grading.devices import runnable
from core.grading.gpu_slots import gpu_slot
from core.grading.jobs import build_job, case_spec, effective_seed, run_spec
from core.grading.layout import Installed, install_files
from core.grading.reference import Expected, ReferenceRun, reference_run
from core.grading.verdict_table import Compared, classify_timing, decide
from core.problem import Case, Problem
from core.report import CaseReport, CaseTiming, GradeReport
from core.sandboxing import get_backend
from core.settings import Settings
from core.static_check import check_files
from core.verdicts import MESSAGES, Verdict, case_message
from sandbox import tensors as tensor_frame
from sandbox.backends.base import Backend, RunResult
from sandbox.protocol import CaseResult, CaseSpec, ChildResult, Ending, Event

Progress = Callable[[int, int], None]


log = logging.getLogger(__name__)


@dataclass
class Graded:
    """The report plus what validation needs and students never see."""

    report: GradeReport
    error_ratios: dict[str, float] = field(default_factory=dict)


def resolve_device(case: Case, settings: Settings) -> str:
    """cpu, or cuda when the case wants it and this worker has GPUs."""
    if case.device == "cpu":
        return "cpu"
    if settings.gpu_indices:
        return "cuda"
    if case.device == "cuda":
        raise InfrastructureError(f"case {case.name} needs a GPU and this worker has none")
    return "cpu"


def grade(problem: Problem, files: dict[str, bytes], *, settings: Settings,
          progress: Progress | None = None, backend: Backend | None = None) -> GradeReport:
    """Grade one submission; student faults are verdicts, judge faults raise InfrastructureError."""
    return grade_detailed(problem, files, settings=settings, progress=progress, backend=backend).report


def grade_detailed(problem: Problem, files: dict[str, bytes], *, settings: Settings,
                   progress: Progress | None = None, backend: Backend | None = None,
                   support: dict[str, bytes] | None = None) -> Graded:
    """grade(), keeping each case's error ratio for `problem validate`.

    `backend` defaults to the configured sandbox (tests of the assembly pass a fake one).
    Harness runs: the submission's, then at most one of the reference (expected outputs that
    are not cached yet, and the timed cases the submission got right). A worker without a GPU
    grades the cases it can run and notes the `device = "cuda"` ones it left out. `support` is
    the package's support/ tree, for the reference and known solutions only (never a student's).
    """
    problem, notes = runnable(problem, settings)
    graded = _grade_detailed(problem, files, settings=settings, progress=progress, backend=backend,
                             support=support)
    graded.report.notes.extend(notes)
    return graded


def _grade_detailed(problem: Problem, files: dict[str, bytes], *, settings: Settings,
                    progress: Progress | None, backend: Backend | None,
                    support: dict[str, bytes] | None) -> Graded:
    start = time.monotonic()
    _one_thread()
    cfg = problem.config
    installed = install_files(problem, files, support)
    finding = check_files(installed.files, cfg.rules, [e for alts in cfg.entries for e in alts],
                          installed.single_module)
    if finding is not None:
        verdict = Verdict.COMPILE_ERROR if finding.kind == "syntax" else Verdict.RULE_VIOLATION
        return Graded(_uniform(problem, verdict, finding.message, start))
    secret = settings.resolved_secret()
    cases = [case_spec(c, resolve_device(c, settings), effective_seed(problem, c, secret))
             for c in cfg.cases]
    backend = backend or get_backend(settings)
    done = 0

    def on_message(msg: Event | CaseResult) -> None:
        nonlocal done
        if isinstance(msg, CaseResult) and progress is not None:
            done += 1
            try:
                progress(done, len(cases))
            except Exception:  # a progress report (a database write) never changes a verdict
                log.warning("progress report failed for case %d of %d", done, len(cases), exc_info=True)

    job = build_job(problem, cases, mode="submission", single_module=installed.single_module)
    with gpu_slot(settings, any(c.device == "cuda" for c in cases)) as gpus:
        result = backend.run(run_spec(problem, settings, job, installed.files, on_message, gpus))
    if not result.started and result.stopped is None:
        raise InfrastructureError(
            f"the sandbox produced no result (exit {result.exit_code}): {result.stderr_tail[-1500:]}"
        )
    # The reference is timed after the submission, in the same job, and only where the
    # submission's outputs were right (a wrong or crashed case has nothing to time).
    timed = {c.name for c in cases if c.timed and _timed_ok(result.outcome(c.name))}
    reference = reference_run(problem, cases, timed=timed, backend=backend, settings=settings,
                              submission_ms={c.name: clocks.medians(result, c) for c in cases if c.name in timed})
    return _assemble(problem, cases, result, reference, settings, start, installed)


def _one_thread() -> None:
    """The judge's own tensor work (comparing outputs) on one thread. A worker grades several
    submissions at once beside their sandboxes, so more intra-op threads only spin against
    them: on a busy 2-core machine a 262k-element comparison took 17 ms on one thread and
    110-120 ms on two. The sandbox runs students' code on one thread too (OMP_NUM_THREADS)."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _timed_ok(outcome: CaseResult) -> bool:
    return outcome.ending is Ending.OK and outcome.timing is not None


def _uniform(problem: Problem, verdict: Verdict, message: str, start: float) -> GradeReport:
    cases = [CaseReport(name=c.name, visibility=c.visibility, verdict=verdict, points=0,
                        max_points=c.points, message=message if c.visibility == "public" else MESSAGES[verdict])
             for c in problem.config.cases]
    return GradeReport(problem=problem.slug, problem_version=problem.content_hash, verdict=verdict,
                       score=0, max_score=problem.max_score, message=message, cases=cases,
                       wall_s=round(time.monotonic() - start, 3))


def _signal_name(num: int | None) -> str:
    if num is None:
        return "a signal"
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


@dataclass(frozen=True)
class _Judged:
    verdict: Verdict
    message: str  # the public case's message
    check: Check | None
    timing: CaseTiming | None
    differing: tuple[str, ...] = ()  # diagnostic outputs that differ, when the case failed


def _compare(outcome: CaseResult, child: ChildResult, expected: Expected, problem: Problem,
             cfg_case: Case) -> tuple[Compared, Check | None]:
    if outcome.tensors is None:
        return Compared.NOT_COMPARED, None
    try:
        got = tensor_frame.load(outcome.tensors)
    except Exception:  # noqa: BLE001 - anything unreadable is the submission's fault
        return Compared.UNREADABLE, None
    tol = problem.config.tolerance_for(cfg_case)
    got_meta = {"input_meta": child.input_meta, "devices": child.devices}
    diagnostics = [d.output for d in problem.config.diagnostics]
    check = compare_case(got, got_meta, expected.tensors, expected.meta, tol.atol, tol.rtol,
                         cfg_case.mutable_inputs, frozenset(diagnostics))
    if not check.ok and diagnostics:
        check.differing = differing(got, expected.tensors, diagnostics, tol.atol, tol.rtol)
    return (Compared.PASSED if check.ok else Compared.FAILED), check


def _case_timing(spec: CaseSpec, result: RunResult, reference: clocks.Medians,
                 budget: float) -> CaseTiming | None:
    """The submission's median against the reference's, on the clock both were measured on
    (CPU time where the run can vouch for it, else wall time: see clocks.py), each median by
    the supervisor's clock bounded below by ours."""
    sample = result.outcome(spec.name).timing
    mine = clocks.medians(result, spec)
    if sample is None or not mine:
        return None
    clock = clocks.common(mine, reference)
    sub_ms = mine[clock] if clock else mine[clocks.WALL]
    ref_ms = reference[clock] if clock else 0.0  # never: the reference is timed on every clock we have
    return CaseTiming(
        submission_ms=round(sub_ms, 4), reference_ms=round(ref_ms, 4),
        ratio=round(sub_ms / ref_ms, 3) if ref_ms > 0 else math.inf, budget_ratio=budget,
        submission_self_reported_ms=(round(statistics.median(sample.self_ns) / 1e6, 4)
                                     if sample.self_ns else None),
        clock=clock or clocks.WALL,
    )


def _judge(spec: CaseSpec, cfg_case: Case, outcome: CaseResult, result: RunResult,
           reference: ReferenceRun, problem: Problem) -> _Judged:
    """One case: compare and time what came back, then look the verdict up in the table."""
    compared, check, timing = Compared.NOT_COMPARED, None, None
    if outcome.ending is Ending.OK and outcome.child is not None:
        compared, check = _compare(outcome, outcome.child, reference.expected[spec.name], problem,
                                   cfg_case)
    if compared is Compared.PASSED and spec.timed:
        timing = _case_timing(spec, result, reference.timings_ms.get(spec.name, {}),
                              problem.config.timing.budget_ratio)
    verdict, key = decide(outcome.ending, compared, classify_timing(spec.timed, timing))
    message = case_message(
        verdict, key,
        detail=check.message if compared is Compared.FAILED and check is not None else outcome.message,
        case_time_s=problem.config.limits.case_time_s, signal=_signal_name(outcome.signal),
        exit_code=outcome.exit_code, ratio=timing.ratio if timing else 0.0,
        budget=problem.config.timing.budget_ratio,
    )
    return _Judged(verdict, message, check, timing,
                   tuple(check.differing) if check is not None and verdict is not Verdict.ACCEPTED else ())


def _assemble(problem: Problem, cases: list[CaseSpec], result: RunResult,
              reference: ReferenceRun, settings: Settings, start: float, installed: Installed) -> Graded:
    shown = settings.stdout_shown_kb << 10
    reports: list[CaseReport] = []
    ratios: dict[str, float] = {}
    compile_msg = ""
    differing: set[str] = set()
    for spec, cfg_case in zip(cases, problem.config.cases, strict=True):
        outcome = result.outcome(spec.name)
        judged = _judge(spec, cfg_case, outcome, result, reference, problem)
        check = judged.check
        if check is not None:
            ratios[spec.name] = check.error_ratio
        if judged.verdict is Verdict.COMPILE_ERROR:
            compile_msg = judged.message
        public = spec.visibility == "public"
        feedback = None
        if public and check is not None and not check.ok:
            feedback = {"check": check.check, "output": check.output, **check.details}
        stdout = None
        if public and outcome.stdout:
            stdout = outcome.stdout[:shown]
            if outcome.stdout_total_bytes > len(stdout):
                stdout += f"\n[... truncated, {outcome.stdout_total_bytes} bytes in all]"
        reports.append(CaseReport(
            name=spec.name, visibility=spec.visibility, verdict=judged.verdict,
            points=cfg_case.points if judged.verdict is Verdict.ACCEPTED else 0,
            max_points=cfg_case.points,
            message=judged.message if public else MESSAGES[judged.verdict],
            feedback=feedback, timings=judged.timing, stdout=stdout,
        ))
        differing.update(judged.differing)
    overall = GradeReport.overall([r.verdict for r in reports])
    timed = [r.timings.ratio for r in reports if r.timings and r.timings.ratio > 0]
    speed = math.exp(sum(math.log(x) for x in timed) / len(timed)) if timed else None
    loaded = _first_loaded(result)
    report = GradeReport(
        problem=problem.slug, problem_version=problem.content_hash, verdict=overall,
        score=sum(r.points for r in reports), max_score=problem.max_score,
        message=compile_msg or MESSAGES[overall], speed_ratio=round(speed, 4) if speed else None,
        cases=reports, wall_s=round(time.monotonic() - start, 3),
        graded=dict(loaded.graded) if loaded else {},
        notes=installed.notes + (list(loaded.notes) if loaded else []) + _diagnosis(problem, differing),
    )
    return Graded(report, ratios)


def _diagnosis(problem: Problem, differing: set[str]) -> list[str]:
    """Notes naming the student's own modules that are wrong on their own, where cases failed."""
    notes = []
    for d in problem.config.diagnostics:
        if d.output in differing:
            where = f": submit it to the problem `{d.problem}` to see where" if d.problem else ""
            notes.append(f"{d.what} also gives wrong results on its own, so the failures above may "
                         f"come from it{where}")
    return notes


def _first_loaded(result: RunResult) -> ChildResult | None:
    """The first case whose child loaded the submission: what its loader said (the same for
    every case) is only the symbol -> file map and the student's own module names."""
    for outcome in result.cases.values():
        if outcome.child is not None and outcome.child.graded:
            return outcome.child
    return None
