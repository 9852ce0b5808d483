"""Reference outputs (cached per version, case, device and seed) and reference timings, from
at most one run of the reference per submission.

The reference runs in the submission's own backend with the submission's limits (so both sides
are timed under the same conditions), in a job of its own that never holds student code.

Timing policy: each timed case's reference median is also cached, per problem version, case,
clock (CPU or wall time, see clocks.py) and worker fingerprint (host, CPU, torch, Python), as
the smallest of its last few measurements. A submission whose own median is at most
REMEASURE_ABOVE of the budget away from that cached median on a clock both share (clearly fast
enough) is judged against it and the reference is not run;
a submission nearer the budget, or over it, gets the reference timed again in this grade, as
before, and the cache learns that measurement. The smallest recent median is used because load
only ever makes a median larger: a stale, slow reference median could wave a slow submission
through, a quiet one can only send a submission to the fresh measurement.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import safetensors.torch as st
import torch

from core.errors import InfrastructureError
from core.grading import clocks
from core.grading.gpu_slots import gpu_slot
from core.grading.jobs import build_job, run_spec
from core.grading.layout import install_files
from core.problem import Problem
from core.settings import Settings
from sandbox import tensors as tensor_frame
from sandbox.backends.base import Backend, RunResult
from sandbox.protocol import CaseSpec, Ending

REMEASURE_ABOVE = 0.5  # of the budget: a submission slower than this gets a fresh reference timing
TIMING_HISTORY = 5  # medians kept per case; the smallest is the cached one


@functools.cache
def worker_fingerprint() -> str:
    """Which machine a reference median was measured on: host, CPU model and count, torch, Python."""
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    parts = [platform.node(), cpu or platform.processor(), str(os.cpu_count()), torch.__version__,
             sys.version.split()[0], os.environ.get("CUDA_VISIBLE_DEVICES", "")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Expected:
    """The reference's outputs and pristine inputs for one case."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]  # {"input_meta": ..., "devices": ...}, as compare_case reads them


@dataclass(frozen=True)
class ReferenceRun:
    """Expected values per case and, for the cases timed now, the reference's median time."""

    expected: dict[str, Expected] = field(default_factory=dict)
    timings_ms: dict[str, clocks.Medians] = field(default_factory=dict)  # case -> clock -> ms


def _cache_path(settings: Settings, problem: Problem, case: CaseSpec) -> Path:
    folder = settings.data_dir / "reference-cache" / f"{problem.slug}-{problem.content_hash}"
    return folder / case.device / f"{case.name}-{case.dtype}-{case.seed}.safetensors"


def _cached(settings: Settings, problem: Problem, case: CaseSpec) -> Expected | None:
    path = _cache_path(settings, problem, case)
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        return Expected(st.load_file(str(path)), json.loads(meta_path.read_text()))
    return None


def _store(settings: Settings, problem: Problem, case: CaseSpec, blob: bytes | bytearray,
           meta: dict[str, Any]) -> None:
    path = _cache_path(settings, problem, case)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    path.with_suffix(".json").write_text(json.dumps(meta))
    tmp.replace(path)


def _timing_path(settings: Settings, problem: Problem, case: CaseSpec, clock: str) -> Path:
    kind = "" if clock == clocks.WALL else f"{clock}-"
    return _cache_path(settings, problem, case).with_suffix(f".timing-{kind}{worker_fingerprint()}.json")


def cached_timing(settings: Settings, problem: Problem, case: CaseSpec,
                  clock: str = clocks.WALL) -> float | None:
    """The reference's cached median (ms) on `clock` for this case on this worker: the smallest
    recent one."""
    try:
        history = json.loads(_timing_path(settings, problem, case, clock).read_text())
        return float(min(history)) if history else None
    except (OSError, ValueError, TypeError):
        return None


def _learn_timing(settings: Settings, problem: Problem, case: CaseSpec, clock: str, ms: float) -> None:
    path = _timing_path(settings, problem, case, clock)
    try:
        history = [float(x) for x in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        history = []
    history = [*history, ms][-TIMING_HISTORY:]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(history))
    tmp.replace(path)


def _run(problem: Problem, backend: Backend, settings: Settings, cases: list[CaseSpec]) -> RunResult:
    module = problem.config.module
    installed = install_files(problem, {"reference.py": (problem.path / "reference.py").read_bytes()},
                              problem.support_files())
    files = installed.files
    job = build_job(problem, cases, mode="reference", single_module=module)
    with gpu_slot(settings, any(c.device == "cuda" for c in cases)) as gpus:
        spec = run_spec(problem, settings, job, files, gpus=gpus)
        # Room for outputs and pristine inputs of every case at once; the clock is not the point.
        spec.wall_time_s *= 2
        spec.output_bytes *= 4
        return backend.run(spec)


def reference_run(problem: Problem, cases: list[CaseSpec], *, timed: set[str], backend: Backend,
                  settings: Settings, submission_ms: dict[str, clocks.Medians] | None = None) -> ReferenceRun:
    """Expected outputs of every case (from the cache, else computed now) and the reference's
    medians per clock on the cases named in `timed`: one run of the reference, or none when all
    is cached and nothing needs timing. With the submission's medians (`submission_ms`), a timed
    case whose submission is clearly fast enough against the cached reference median on a clock
    both share uses that median (see the module's timing policy)."""
    expected: dict[str, Expected] = {}
    timings: dict[str, clocks.Medians] = {}
    for case in cases:
        hit = _cached(settings, problem, case)
        if hit is not None:
            expected[case.name] = hit
        mine = (submission_ms or {}).get(case.name)
        if case.name not in timed or not mine:
            continue
        # Only on the submission's own best clock: a cache that lacks it is measured afresh.
        clock = clocks.best(mine)
        ref_ms = cached_timing(settings, problem, case, clock)
        if ref_ms and mine[clock] / ref_ms <= REMEASURE_ABOVE * problem.config.timing.budget_ratio:
            timings[case.name] = {clock: ref_ms}
    timed = timed - set(timings)
    todo = [replace(case, timed=case.name in timed) for case in cases
            if case.name not in expected or case.name in timed]
    if not todo:
        return ReferenceRun(expected, timings)
    result = _run(problem, backend, settings, todo)
    for case in todo:
        outcome = result.outcome(case.name)
        if outcome.ending is not Ending.OK or outcome.child is None or outcome.tensors is None:
            detail = outcome.message or result.protocol_error or result.stderr_tail[-2000:]
            raise InfrastructureError(
                f"the reference failed on case {case.name} ({outcome.ending.value}): {detail}")
        if case.name not in expected:
            meta = {"input_meta": outcome.child.input_meta, "devices": outcome.child.devices}
            expected[case.name] = Expected(tensor_frame.load(outcome.tensors), meta)
            _store(settings, problem, case, outcome.tensors, meta)
        if case.timed:
            measured = clocks.medians(result, case, bounded=False)
            if not measured:
                raise InfrastructureError(f"the reference was not timed on case {case.name}")
            timings[case.name] = measured
            for clock, ms in measured.items():
                _learn_timing(settings, problem, case, clock, ms)
    return ReferenceRun(expected, timings)
