"""Reference outputs (cached per version, case, device and seed) and reference timings."""

from __future__ import annotations

import json
import os
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch as st
import torch

from core.errors import InfrastructureError
from core.grading.jobs import make_job_dir, run_spec
from core.grading.layout import install_single
from core.problem import Problem
from core.sandboxing import IsolatingBackend, get_backend
from core.settings import Settings
from sandbox.backends.base import RunResult
from sandbox.backends.trusted import TrustedRunner


@dataclass
class Expected:
    """The reference's outputs and pristine inputs for one case."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]


@dataclass
class ReferenceRun:
    """Expected values per case and, for timed cases, the reference's median time now."""


    expected: dict[str, Expected] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)


def _cache_dir(settings: Settings, problem: Problem, device: str) -> Path:
    return settings.data_dir / "reference-cache" / f"{problem.slug}-{problem.content_hash}" / device


def _key(case: dict[str, Any]) -> str:
    return f"{case['name']}-{case['dtype']}-{case['seed']}"


def _run_reference(problem: Problem, cases: list[dict[str, Any]], settings: Settings,
                   *, like_submission: bool) -> RunResult:
    """Expected outputs come from a plain separate process; timings from the submission's own
    backend with the submission's limits, so both sides are timed under the same conditions.
    Either way the reference runs in a job of its own and never shares one with student code."""
    module = problem.config.module
    ref_files = install_single(module, (problem.path / "reference.py").read_bytes())
    backend: IsolatingBackend | TrustedRunner
    inside: str | None = None
    if like_submission:
        backend = get_backend(settings)
        inside = backend.inside_job_dir(settings.data_dir)
    else:
        backend = TrustedRunner()
    job_dir = make_job_dir(problem, ref_files, cases, mode="reference", inside_root=inside,
                           parent=settings.data_dir / "jobs", single_module=module)
    try:
        spec = run_spec(problem, settings, job_dir)
        if not like_submission:
            spec.wall_time_s *= 2
            spec.output_bytes *= 4
        return backend.run(spec)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _ok_messages(result: RunResult, cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_case = {m["case"]: m for m in result.messages if m.get("type") == "case_result"}
    for case in cases:
        msg = by_case.get(case["name"]) or {}
        child = msg.get("child") or {}
        if child.get("status") != "ok" or case["name"] not in result.blobs:
            detail = child.get("message") or msg.get("protocol_error") or result.stderr_tail[-2000:]
            raise InfrastructureError(f"the reference failed on case {case['name']}: {detail}")
    return by_case


def reference_outputs(problem: Problem, cases: list[dict[str, Any]], settings: Settings) -> ReferenceRun:
    """Expected outputs for every case: from the cache, else one trusted run of the reference."""
    out = ReferenceRun()
    todo: list[dict[str, Any]] = []
    for case in cases:
        path = _cache_dir(settings, problem, case["device"]) / f"{_key(case)}.safetensors"
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            out.expected[case["name"]] = Expected(st.load_file(str(path)), json.loads(meta_path.read_text()))
        else:
            todo.append({**case, "timed": False})
    if not todo:
        return out
    result = _run_reference(problem, todo, settings, like_submission=False)
    by_case = _ok_messages(result, todo)
    for case in todo:
        child = by_case[case["name"]]["child"]
        meta = {"input_meta": child.get("input_meta", {}), "devices": child.get("devices", {})}
        out.expected[case["name"]] = Expected(st.load(result.blobs[case["name"]]), meta)
        cache = _cache_dir(settings, problem, case["device"])
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"{_key(case)}.safetensors"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(result.blobs[case["name"]])
        path.with_suffix(".json").write_text(json.dumps(meta))
        tmp.replace(path)
    return out


def reference_timings(problem: Problem, cases: list[dict[str, Any]], settings: Settings) -> dict[str, float]:
    """Median reference time (ms) per timed case, measured now, on this machine, in this job."""
    if not cases:
        return {}
    result = _run_reference(problem, cases, settings, like_submission=True)
    by_case = _ok_messages(result, cases)
    timings: dict[str, float] = {}
    for case in cases:
        ns = by_case[case["name"]].get("timing", {}).get("trusted_ns") or []
        if not ns:
            raise InfrastructureError(f"the reference was not timed on case {case['name']}")
        timings[case["name"]] = statistics.median(ns) / 1e6
    return timings
