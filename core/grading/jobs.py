"""Building a job directory (job.json, driver, submission files) for one harness run."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.problem import Case, Problem
from core.settings import Settings
from sandbox.backends.base import RunSpec


def effective_seed(problem: Problem, case: Case, secret: str) -> int:
    """Public cases use their listed seed; hidden seeds are mixed with the server secret."""
    if case.visibility == "public":
        return case.seed
    digest = hmac.new(secret.encode(), f"{problem.slug}:{case.name}:{case.seed}".encode(), hashlib.sha256)
    return int.from_bytes(digest.digest()[:8], "big") & 0x7FFF_FFFF_FFFF


def case_payload(problem: Problem, case: Case, device: str, seed: int) -> dict[str, Any]:
    """The case as the harness sees it (no tolerances, no expected values)."""
    return {
        "name": case.name,
        "params": case.params,
        "dtype": case.dtype,
        "device": device,
        "visibility": case.visibility,
        "seed": seed,
        "timed": case.timed,
        "mutable_inputs": case.mutable_inputs,
    }


def run_spec(problem: Problem, settings: Settings, job_dir: Path,
             on_message: Callable[[dict[str, Any]], None] | None = None) -> RunSpec:
    """The limits of one sandboxed run of this problem on this worker."""
    limits = problem.config.limits
    return RunSpec(
        job_dir=job_dir,
        wall_time_s=min(limits.wall_time_s, settings.wall_time_cap_s),
        memory_mb=limits.memory_mb,
        output_bytes=limits.output_mb << 20,
        stdout_bytes=limits.stdout_kb << 10,
        tmp_mb=limits.tmp_mb,
        gpus=settings.gpu_indices,
        on_message=on_message,
    )


def make_job_dir(
    problem: Problem,
    files: dict[str, bytes],
    cases: list[dict[str, Any]],
    *,
    mode: str,
    inside_root: str | None,
    parent: Path | None = None,
    single_module: str | None = None,
) -> Path:
    """Write a job directory; `inside_root` is where the backend shows it (None: real path)."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    job_dir = Path(tempfile.mkdtemp(prefix=f"tj-{mode}-", dir=parent))
    os.chmod(job_dir, 0o755)
    root = inside_root or str(job_dir)
    sub = job_dir / "submission"
    sub.mkdir()
    for rel, data in files.items():
        target = sub / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    shutil.copyfile(problem.path / "driver.py", job_dir / "driver.py")
    cfg = problem.config
    job = {
        "mode": mode,
        "driver": f"{root}/driver.py",
        "submission_dir": f"{root}/submission",
        "entry_points": cfg.entry_points,
        # One uploaded file, installed as this module: every entry point is looked up in it.
        "single_module": single_module,
        "cases": cases,
        "timing": {"warmup": cfg.timing.warmup, "repeats": cfg.timing.repeats},
        "rules": {
            "forbid_autograd": cfg.rules.forbid_autograd,
            "forbidden_calls": cfg.rules.forbidden_calls,
        },
        "limits": {
            "output_bytes": cfg.limits.output_mb << 20,
            "stdout_bytes": cfg.limits.stdout_kb << 10,
            "case_time_s": cfg.limits.case_time_s,
            # Address space a CPU case may add to what the harness already maps (the child
            # measures its own baseline: a CUDA build of torch maps several GiB at import).
            "address_space_mb": cfg.limits.memory_mb + 1024,
        },
        "workdir": "/tmp" if inside_root else str(job_dir),
    }
    (job_dir / "job.json").write_text(json.dumps(job))
    for path in job_dir.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return job_dir
