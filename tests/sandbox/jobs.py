"""Small jobs for backend tests: every limit spelled out, as core/grading/jobs.py does."""

from __future__ import annotations

from sandbox.protocol import CaseLimits, CaseSpec, Job, RulesSpec, TimingSpec


def empty_job(cases: list[CaseSpec] | None = None, mode: str = "submission") -> Job:
    """A job with the given cases (none by default) and small, explicit limits."""
    return Job(
        mode=mode, entry_points=["solution:f"], single_module="solution", cases=cases or [],
        timing=TimingSpec(warmup=1, repeats=2),
        rules=RulesSpec(forbid_autograd=False, forbidden_calls=[]),
        limits=CaseLimits(output_bytes=1 << 20, stdout_bytes=1 << 10, stdout_kill_bytes=1 << 20,
                          case_time_s=10.0, address_space_mb=2048),
    )
