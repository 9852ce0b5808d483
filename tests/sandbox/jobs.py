"""Small jobs for backend tests: every limit spelled out, as core/grading/jobs.py does."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sandbox import tensors as tensor_frame
from sandbox.backends.base import RunResult, RunSpec
from sandbox.protocol import CaseLimits, CaseSpec, Ending, Job, RulesSpec, TimingSpec


def empty_job(cases: list[CaseSpec] | None = None, mode: str = "submission") -> Job:
    """A job with the given cases (none by default) and small, explicit limits."""
    return Job(
        mode=mode, entry_points=["solution:f"], single_module="solution", cases=cases or [],
        timing=TimingSpec(warmup=1, repeats=2),
        rules=RulesSpec(forbid_autograd=False, forbidden_calls=[]),
        limits=CaseLimits(output_bytes=1 << 20, stdout_bytes=1 << 10, stdout_kill_bytes=1 << 20,
                          case_time_s=10.0, address_space_mb=2048),
    )


# A driver whose one case returns what the submission's f() reports, as int64 (the warm-sandbox
# and zygote tests' probes report what they find of the run before them).
PROBE_DRIVER = b'''
import torch

def generate_inputs(case, seed):
    return {}

def run(sub, inputs, case):
    return {"seen": torch.tensor(sub.f(), dtype=torch.int64)}
'''


def probe_spec(tmp_path: Path, source: bytes) -> RunSpec:
    """One run of the probe case: `source` defines f() -> list of ints."""
    case = CaseSpec(name="probe", params={}, dtype="float32", device="cpu", visibility="public", seed=1,
                    timed=False, mutable_inputs=[])
    return RunSpec(job=empty_job([case]), driver=PROBE_DRIVER, files={"solution.py": source}, work_root=tmp_path,
                   wall_time_s=60, memory_mb=1024, output_bytes=1 << 20, tmp_mb=16)


class _Runs(Protocol):
    def run(self, spec: RunSpec) -> RunResult: ...


def probe_seen(box: _Runs, spec: RunSpec) -> list[int]:
    """Run the probe in `box`; what its f() reported (the case must end OK)."""
    result = box.run(spec)
    outcome = result.outcome("probe")
    assert outcome.ending is Ending.OK, (outcome.message, result.stderr_tail[-800:])
    assert outcome.tensors is not None
    return [int(v) for v in tensor_frame.load(outcome.tensors)["out.seen"].tolist()]
