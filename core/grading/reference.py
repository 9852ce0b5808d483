"""Reference outputs, computed by the trusted runner and cached per (version, case, device, seed)."""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch as st
import torch

from core.errors import InfrastructureError
from core.grading.jobs import make_job_dir
from core.problem import Problem
from core.settings import Settings
from sandbox.backends.base import RunSpec
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


def reference_outputs(problem: Problem, cases: list[dict[str, Any]], settings: Settings) -> ReferenceRun:
    """Load cached expectations; run the reference for missing cases and every timed case."""
    out = ReferenceRun()
    todo: list[dict[str, Any]] = []
    for case in cases:
        path = _cache_dir(settings, problem, case["device"]) / f"{_key(case)}.safetensors"
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists() and not case["timed"]:
            out.expected[case["name"]] = Expected(st.load_file(str(path)), json.loads(meta_path.read_text()))
        else:
            todo.append(case)
    if not todo:
        return out
    ref_files = {f"{problem.config.module}.py": (problem.path / "reference.py").read_bytes()}
    job_dir = make_job_dir(problem, ref_files, todo, mode="reference", inside_root=None,
                           parent=settings.data_dir / "jobs")
    try:
        limits = problem.config.limits
        result = TrustedRunner().run(RunSpec(
            job_dir=job_dir,
            wall_time_s=limits.wall_time_s * 2,
            memory_mb=limits.memory_mb,
            output_bytes=(limits.output_mb << 20) * 4,
        ))
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    by_case = {m["case"]: m for m in result.messages if m.get("type") == "case_result"}
    for case in todo:
        msg = by_case.get(case["name"])
        child = (msg or {}).get("child") or {}
        if child.get("status") != "ok" or case["name"] not in result.blobs:
            detail = child.get("message") or (msg or {}).get("protocol_error") or result.stderr_tail[-2000:]
            raise InfrastructureError(f"the reference failed on case {case['name']}: {detail}")
        tensors = st.load(result.blobs[case["name"]])
        meta = {"input_meta": child.get("input_meta", {}), "devices": child.get("devices", {})}
        out.expected[case["name"]] = Expected(tensors, meta)
        if case["timed"]:
            ns = (msg or {}).get("timing", {}).get("trusted_ns") or []
            if not ns:
                raise InfrastructureError(f"the reference was not timed on case {case['name']}")
            out.timings_ms[case["name"]] = statistics.median(ns) / 1e6
        cache = _cache_dir(settings, problem, case["device"])
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"{_key(case)}.safetensors"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(result.blobs[case["name"]])
        tmp.replace(path)
        path.with_suffix(".json").write_text(json.dumps(meta))
    return out
