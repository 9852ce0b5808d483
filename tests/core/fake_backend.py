"""A fake sandbox backend for tests of the pipeline's assembly, which need no sandbox.

It runs nothing: each case of a job is answered by the test's script, and every answer goes
through the wire encoding and the typed decoder, as a real backend's reader would see it. Tests
of isolation, verdicts of real code, or the harness itself use the real sandbox instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import safetensors.torch as st
import torch

from sandbox import protocol
from sandbox.backends.base import RunResult, RunSpec
from sandbox.protocol import CaseResult, CaseSpec, ChildResult, Ending, Job, TimingSample

# The test's script: how a case of a job ends (None: the run stopped before it finished).
Script = Callable[[Job, CaseSpec], CaseResult | None]


@dataclass
class FakeBackend:
    """Answers cases from a script; records every job it was given."""

    script: Script
    stopped: Ending | None = None
    oom_killed: bool = False
    windows_ns: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The run's CPU usage at the marks (a real backend reads it from the run's cgroup): None
    # for none, as where no cgroup vouches for CPU time, else a job's mode -> case -> window.
    cpu_windows_ns: dict[str, dict[str, tuple[int, int]]] | None = None
    jobs: list[Job] = field(default_factory=list)
    name: str = "fake"

    def available(self) -> tuple[bool, str]:
        """Always: it runs nothing."""
        return True, "fake backend: runs nothing"

    def run(self, spec: RunSpec) -> RunResult:
        """Each case's scripted result, round-tripped through the protocol."""
        self.jobs.append(spec.job)
        cases: dict[str, CaseResult] = {}
        for case in spec.job.cases:
            scripted = self.script(spec.job, case)
            if scripted is None:
                continue
            head, tensors = scripted.encode()
            decoded, announced = protocol.CaseResult.decode(protocol.decode_json(head[protocol.HEADER.size:]))
            assert announced == (tensors is not None)
            decoded.tensors = None if tensors is None else tensors[protocol.HEADER.size:]
            cases[case.name] = decoded
            if spec.on_message is not None:
                spec.on_message(decoded)
        cpu = {} if self.cpu_windows_ns is None else dict(self.cpu_windows_ns.get(spec.job.mode, {}))
        return RunResult(cases=cases, windows_ns=dict(self.windows_ns), started=True, exit_code=0,
                         wall_s=0.0, stopped=self.stopped, oom_killed=self.oom_killed, cpu_windows_ns=cpu)


def ok(case: CaseSpec, outputs: dict[str, torch.Tensor], *, inputs: dict[str, torch.Tensor] | None = None,
       stdout: str = "", trusted_ns: list[int] | None = None, graded: dict[str, str] | None = None,
       notes: list[str] | None = None, cpu_ns: list[int] | None = None) -> CaseResult:
    """A case whose child returned these outputs (and, when given, was timed at trusted_ns of
    wall time and cpu_ns of CPU time)."""
    tensors = {f"out.{k}": v for k, v in outputs.items()}
    tensors.update({f"in.{k}": v for k, v in (inputs or {}).items()})
    meta = {k: {"requires_grad": False, "has_grad": False} for k in (inputs or {})}
    child = ChildResult(case=case.name, ending=Ending.OK, graded=graded or {}, notes=notes or [],
                        input_meta=meta, devices={k: "cpu" for k in outputs}, tensors=True)
    timing = None if trusted_ns is None else TimingSample(trusted_ns=trusted_ns, self_ns=trusted_ns,
                                                         cpu_ns=cpu_ns or [])
    return CaseResult(case=case.name, ending=Ending.OK, child=child, timing=timing, stdout=stdout,
                      stdout_total_bytes=len(stdout.encode()), tensors=st.save(tensors))


def ended(case: CaseSpec, ending: Ending, message: str = "", **fields: object) -> CaseResult:
    """A case that ended without outputs (a child's error, a signal, a timeout...)."""
    child = None
    if ending in protocol.CHILD_ENDINGS:
        child = ChildResult(case=case.name, ending=ending, message=message)
    return CaseResult(case=case.name, ending=ending, message=message, child=child,
                      **fields)  # type: ignore[arg-type]
