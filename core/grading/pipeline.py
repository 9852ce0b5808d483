"""The grading pipeline: static checks -> reference -> sandboxed run -> compare -> verdicts."""

from __future__ import annotations

import math
import shutil
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import safetensors.torch as st

from core.compare import Check, compare_case
from core.errors import InfrastructureError
from core.grading.jobs import case_payload, effective_seed, make_job_dir, run_spec
from core.grading.layout import Installed, install_files
from core.grading.reference import ReferenceRun, reference_outputs, reference_timings
from core.problem import Case, Problem
from core.report import CaseReport, CaseTiming, GradeReport
from core.sandboxing import get_backend
from core.settings import Settings
from core.static_check import check_files
from core.verdicts import MESSAGES, Verdict
from sandbox.backends.base import RunResult

Progress = Callable[[int, int], None]


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
          progress: Progress | None = None) -> GradeReport:
    """Grade one submission; student faults are verdicts, judge faults raise InfrastructureError."""
    return grade_detailed(problem, files, settings=settings, progress=progress).report


def grade_detailed(problem: Problem, files: dict[str, bytes], *, settings: Settings,
                   progress: Progress | None = None) -> Graded:
    """grade(), keeping each case's error ratio for `problem validate`."""
    start = time.monotonic()
    cfg = problem.config
    installed = install_files(problem, files)
    finding = check_files(installed.files, cfg.rules, [e for alts in cfg.entries for e in alts],
                          installed.single_module)
    if finding is not None:
        verdict = Verdict.COMPILE_ERROR if finding.kind == "syntax" else Verdict.RULE_VIOLATION
        return Graded(_uniform(problem, verdict, finding.message, start))
    secret = settings.resolved_secret()
    cases = [case_payload(problem, c, resolve_device(c, settings), effective_seed(problem, c, secret))
             for c in cfg.cases]
    reference = reference_outputs(problem, cases, settings)
    backend = get_backend(settings)
    done = 0

    def on_message(msg: dict[str, Any]) -> None:
        nonlocal done
        if msg.get("type") == "case_result" and progress is not None:
            done += 1
            progress(done, len(cases))

    job_dir = make_job_dir(problem, installed.files, cases, mode="submission",
                           inside_root=backend.inside_job_dir(settings.data_dir),
                           parent=settings.data_dir / "jobs", single_module=installed.single_module)
    try:
        result = backend.run(run_spec(problem, settings, job_dir, on_message))
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    if not result.messages and not result.killed:
        raise InfrastructureError(
            f"the sandbox produced no result (exit {result.exit_code}): {result.stderr_tail[-1500:]}"
        )
    # The reference is timed after the submission, in the same job, and only where the
    # submission's outputs were right (a wrong or crashed case has nothing to time).
    timed = [c for c in cases if c["timed"] and _timed_ok(result, c["name"])]
    reference.timings_ms = reference_timings(problem, timed, settings)
    return _assemble(problem, cases, result, reference, settings, start, installed)


def _timed_ok(result: RunResult, name: str) -> bool:
    for msg in result.messages:
        if msg.get("type") == "case_result" and msg.get("case") == name:
            return bool((msg.get("child") or {}).get("status") == "ok" and msg.get("timing"))
    return False


def _uniform(problem: Problem, verdict: Verdict, message: str, start: float) -> GradeReport:
    cases = [CaseReport(name=c.name, visibility=c.visibility, verdict=verdict, points=0,
                        max_points=c.points, message=message if c.visibility == "public" else MESSAGES[verdict])
             for c in problem.config.cases]
    return GradeReport(problem=problem.slug, problem_version=problem.content_hash, verdict=verdict,
                       score=0, max_score=problem.max_score, message=message, cases=cases,
                       wall_s=round(time.monotonic() - start, 3))


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _case_outcome(case: dict[str, Any], msg: dict[str, Any] | None, result: RunResult,
                  reference: ReferenceRun, cfg_case: Case, problem: Problem
                  ) -> tuple[Verdict, str, Check | None, CaseTiming | None]:
    if msg is None:
        if result.killed == "wall":
            return Verdict.TIME_LIMIT_EXCEEDED, "the run hit its wall-clock limit before this case", None, None
        if result.killed == "output":
            return Verdict.OUTPUT_LIMIT_EXCEEDED, "the run produced more output than allowed", None, None
        if result.oom_killed:
            return Verdict.MEMORY_LIMIT_EXCEEDED, "the run was killed by the memory limit", None, None
        return Verdict.RUNTIME_ERROR, "the sandbox stopped before this case finished", None, None
    killed = msg.get("killed")
    if killed == "timeout":
        limit = problem.config.limits.case_time_s
        return Verdict.TIME_LIMIT_EXCEEDED, f"the case ran past its {limit:g} s limit", None, None
    if killed == "output_limit":
        return Verdict.OUTPUT_LIMIT_EXCEEDED, "the submission printed too much", None, None
    child = msg.get("child")
    if not child:
        status = msg.get("exit_status", {})
        if "signal" in status:
            sig = int(status["signal"])
            if sig == signal.SIGXCPU:
                return Verdict.TIME_LIMIT_EXCEEDED, "CPU time limit exceeded", None, None
            if sig == signal.SIGKILL and result.oom_killed:
                return Verdict.MEMORY_LIMIT_EXCEEDED, "killed by the memory limit", None, None
            return Verdict.RUNTIME_ERROR, f"the process was killed by {_signal_name(sig)}", None, None
        why = msg.get("protocol_error") or f"exited with code {status.get('code')} before producing a result"
        return Verdict.RUNTIME_ERROR, why, None, None
    status = child.get("status")
    text = str(child.get("message", ""))
    simple = {
        "wrong": Verdict.WRONG_ANSWER,
        "error": Verdict.RUNTIME_ERROR,
        "compile_error": Verdict.COMPILE_ERROR,
        "rule_violation": Verdict.RULE_VIOLATION,
        "oom": Verdict.MEMORY_LIMIT_EXCEEDED,
    }
    if status in simple:
        return simple[status], text, None, None
    if status != "ok" or case["name"] not in result.blobs:
        return Verdict.RUNTIME_ERROR, msg.get("protocol_error") or "no outputs came back", None, None
    try:
        got = st.load(result.blobs[case["name"]])
    except Exception:  # noqa: BLE001 - anything unreadable is the submission's fault
        return Verdict.WRONG_ANSWER, "the outputs could not be read back", None, None
    expected = reference.expected[case["name"]]
    tol = problem.config.tolerance_for(cfg_case)
    check = compare_case(got, child, expected.tensors, expected.meta, tol.atol, tol.rtol,
                         cfg_case.mutable_inputs)
    if not check.ok:
        return Verdict.WRONG_ANSWER, check.message, check, None
    if not case["timed"]:
        return Verdict.ACCEPTED, "", check, None
    ns = msg.get("timing", {}).get("trusted_ns") or []
    if not ns:
        return Verdict.RUNTIME_ERROR, msg.get("protocol_error") or "the timing run did not finish", check, None
    sub_ms = statistics.median(ns) / 1e6
    outside_ms = _outside_window_ms(result, case["name"])
    if outside_ms is not None:
        # The supervisor's clock runs in the sandbox; ours bounds it from below. The marks reach
        # us late under load (so the window can look a little short or long): only a median
        # under half of the mean we saw is overruled, which no honest run comes near.
        sub_ms = max(sub_ms, 0.5 * outside_ms / len(ns))
    ref_ms = reference.timings_ms.get(case["name"], 0.0)
    self_ns = msg.get("timing", {}).get("self_ns") or []
    budget = problem.config.timing.budget_ratio
    timing = CaseTiming(
        submission_ms=round(sub_ms, 4), reference_ms=round(ref_ms, 4),
        ratio=round(sub_ms / ref_ms, 3) if ref_ms > 0 else math.inf, budget_ratio=budget,
        submission_self_reported_ms=round(statistics.median(self_ns) / 1e6, 4) if self_ns else None,
    )
    if timing.ratio > budget:
        return (Verdict.TIME_LIMIT_EXCEEDED,
                f"{timing.ratio:.1f}x the reference's time (budget {budget:g}x)", check, timing)
    return Verdict.ACCEPTED, "", check, timing


def _outside_window_ms(result: RunResult, case_name: str) -> float | None:
    """Milliseconds between the timing marks of a case, by the clock outside the sandbox."""
    marks = {m.get("mark"): m.get("_recv_ns") for m in result.messages
             if m.get("type") == "timing_mark" and m.get("case") == case_name}
    start, end = marks.get("start"), marks.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or end < start:
        return None
    return (end - start) / 1e6


def _assemble(problem: Problem, cases: list[dict[str, Any]], result: RunResult,
              reference: ReferenceRun, settings: Settings, start: float, installed: Installed) -> Graded:
    by_case = {m.get("case"): m for m in result.messages if m.get("type") == "case_result"}
    shown = settings.stdout_shown_kb << 10
    reports: list[CaseReport] = []
    ratios: dict[str, float] = {}
    compile_msg = ""
    for case, cfg_case in zip(cases, problem.config.cases, strict=True):
        msg = by_case.get(case["name"])
        verdict, text, check, timing = _case_outcome(case, msg, result, reference, cfg_case, problem)
        if check is not None:
            ratios[case["name"]] = check.error_ratio
        if verdict is Verdict.COMPILE_ERROR:
            compile_msg = text
        public = case["visibility"] == "public"
        feedback = None
        if public and check is not None and not check.ok:
            feedback = {"check": check.check, "output": check.output, **check.details}
        stdout = None
        if public and msg is not None and msg.get("stdout"):
            stdout = str(msg["stdout"])[:shown]
            if int(msg.get("stdout_total_bytes", 0)) > len(stdout):
                stdout += f"\n[... truncated, {msg['stdout_total_bytes']} bytes in all]"
        reports.append(CaseReport(
            name=case["name"], visibility=case["visibility"], verdict=verdict,
            points=cfg_case.points if verdict is Verdict.ACCEPTED else 0, max_points=cfg_case.points,
            message=(text or MESSAGES[verdict]) if public else MESSAGES[verdict],
            feedback=feedback, timings=timing, stdout=stdout,
        ))
    overall = GradeReport.overall([r.verdict for r in reports])
    timed = [r.timings.ratio for r in reports if r.timings and r.timings.ratio > 0]
    speed = math.exp(sum(math.log(x) for x in timed) / len(timed)) if timed else None
    report = GradeReport(
        problem=problem.slug, problem_version=problem.content_hash, verdict=overall,
        score=sum(r.points for r in reports), max_score=problem.max_score,
        message=compile_msg or MESSAGES[overall], speed_ratio=round(speed, 4) if speed else None,
        cases=reports, wall_s=round(time.monotonic() - start, 3),
        graded=_first_child(result, "graded", dict), notes=installed.notes + _first_child(result, "notes", list),
    )
    return Graded(report, ratios)


def _first_child(result: RunResult, key: str, kind: type) -> Any:
    """What the first case's loader said about the submission (the same for every case); only
    the symbol -> file map and the student's own module names, never a path of ours."""
    for msg in result.messages:
        child = msg.get("child") if msg.get("type") == "case_result" else None
        if isinstance(child, dict) and isinstance(child.get(key), kind):
            value = child[key]
            if kind is dict:
                return {str(k): str(v)[:300] for k, v in list(value.items())[:20]}
            return [str(v)[:1000] for v in value[:10]]
    return kind()
