"""The harness job for one run (what goes into the sandbox) and the run's limits."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from core.problem import Case, Problem
from core.settings import Settings
from sandbox.backends.base import RunSpec
from sandbox.protocol import CaseLimits, CaseResult, CaseSpec, Event, Job, RulesSpec, TimingSpec

# Student output past which a case is stopped (what is kept for the report is limits.stdout_kb).
STDOUT_KILL_BYTES = 16 << 20
# Address space a CPU case may add to what the harness already maps (the child measures its own
# baseline: a CUDA build of torch maps several GiB at import).
ADDRESS_SPACE_EXTRA_MB = 1024


def effective_seed(problem: Problem, case: Case, secret: str) -> int:
    """Public cases use their listed seed; hidden seeds are mixed with the server secret."""
    if case.visibility == "public":
        return case.seed
    digest = hmac.new(secret.encode(), f"{problem.slug}:{case.name}:{case.seed}".encode(), hashlib.sha256)
    return int.from_bytes(digest.digest()[:8], "big") & 0x7FFF_FFFF_FFFF


def case_spec(case: Case, device: str, seed: int) -> CaseSpec:
    """The case as the harness sees it (no tolerances, no expected values)."""
    return CaseSpec(name=case.name, params=dict(case.params), dtype=case.dtype, device=device,
                    visibility=case.visibility, seed=seed, timed=case.timed,
                    mutable_inputs=list(case.mutable_inputs))


def build_job(problem: Problem, cases: list[CaseSpec], *, mode: str,
              single_module: str | None) -> Job:
    """The job for one run; every limit comes from the problem (defaulted in core/problem.py)."""
    cfg = problem.config
    return Job(
        mode=mode,
        entry_points=list(cfg.entry_points),
        # One uploaded file, installed as this module: every entry point is looked up in it.
        single_module=single_module,
        cases=cases,
        timing=TimingSpec(warmup=cfg.timing.warmup, repeats=cfg.timing.repeats),
        rules=RulesSpec(forbid_autograd=cfg.rules.forbid_autograd,
                        forbidden_calls=list(cfg.rules.forbidden_calls)),
        limits=CaseLimits(
            output_bytes=cfg.limits.output_mb << 20,
            stdout_bytes=cfg.limits.stdout_kb << 10,
            stdout_kill_bytes=STDOUT_KILL_BYTES,
            case_time_s=cfg.limits.case_time_s,
            address_space_mb=cfg.limits.memory_mb + ADDRESS_SPACE_EXTRA_MB,
        ),
    )


def run_spec(problem: Problem, settings: Settings, job: Job, files: dict[str, bytes],
             on_message: Callable[[Event | CaseResult], None] | None = None,
             gpus: list[int] | None = None) -> RunSpec:
    """One sandboxed run of this job on this worker, within the problem's limits."""
    limits = problem.config.limits
    return RunSpec(
        job=job,
        driver=(problem.path / "driver.py").read_bytes(),
        files=files,
        work_root=settings.data_dir / "jobs",
        wall_time_s=min(limits.wall_time_s, settings.wall_time_cap_s),
        memory_mb=limits.memory_mb,
        output_bytes=limits.output_mb << 20,
        tmp_mb=limits.tmp_mb,
        gpus=list(gpus or []),
        on_message=on_message,
    )
