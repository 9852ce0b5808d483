"""A timed CPU case's clocks in the real process sandbox: the supervisor reads the case child's
CPU time besides wall time, and the outside reads the run's cgroup over the same repeats, so a
CPU case can be judged by CPU time, which other load on the worker hardly moves.

The submissions here are not fast or slow code: one sleeps (wall time passes, no CPU time) and
one spins on its own CPU clock (CPU time passes), so each clock is told apart by what it must
and must not count, not by how fast this machine is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.grading import clocks
from sandbox.backends.base import RunSpec
from sandbox.backends.process import ProcessSandbox
from sandbox.protocol import CaseSpec, Ending
from tests.sandbox.jobs import empty_job

pytestmark = pytest.mark.sandbox
needs_bwrap = pytest.mark.skipif(ProcessSandbox().bwrap is None, reason="bubblewrap not installed")

DRIVER = b'''
import torch

def generate_inputs(case, seed):
    return {}

def run(sub, inputs, case):
    return {"y": torch.tensor(sub.f())}
'''

SLEEPS = b"import time\n\ndef f():\n    time.sleep(0.05)\n    return 1.0\n"
SPINS = (b"import time\n\ndef f():\n    t = time.process_time()\n"
         b"    while time.process_time() - t < 0.05:\n        pass\n    return 1.0\n")

# Helpers that do the work while the case child waits, which the child's own CPU clock would
# not count: one forked and reaped per call, one started once that answers every call.
_SPIN = "    t = time.process_time()\n    while time.process_time() - t < 0.05:\n        pass\n"
FORKS_PER_CALL = ("import os, time\n\ndef f():\n    pid = os.fork()\n    if pid == 0:\n"
                  + _SPIN.replace("    ", "        ") + "        os._exit(0)\n"
                  "    os.waitpid(pid, 0)\n    return 1.0\n").encode()
KEEPS_A_HELPER = ("import os, time\n\nask_r, ask_w = os.pipe()\ndone_r, done_w = os.pipe()\n"
                  "if os.fork() == 0:\n    while os.read(ask_r, 1):\n"
                  + _SPIN.replace("    ", "        ") + "        os.write(done_w, b'.')\n"
                  "    os._exit(0)\n\ndef f():\n    os.write(ask_w, b'?')\n    os.read(done_r, 1)\n"
                  "    return 1.0\n").encode()


def _timed(box: Any, tmp_path: Path, source: bytes) -> tuple[list[int], list[int], clocks.Medians]:
    case = CaseSpec(name="timed", params={}, dtype="float32", device="cpu", visibility="public", seed=1,
                    timed=True, mutable_inputs=[])
    spec = RunSpec(job=empty_job([case]), driver=DRIVER, files={"solution.py": source}, work_root=tmp_path,
                   wall_time_s=60, memory_mb=1024, output_bytes=1 << 20, tmp_mb=16)
    result = box.run(spec)
    outcome = result.outcome("timed")
    assert outcome.ending is Ending.OK, (outcome.message, result.stderr_tail[-800:])
    assert outcome.timing is not None
    return outcome.timing.trusted_ns, outcome.timing.cpu_ns, clocks.medians(result, case)


def _docker() -> Any:
    from sandbox.backends.docker import DockerSandbox
    from tests.sandbox.test_docker_backend import _engine

    if not _engine():
        pytest.skip("no Docker engine here")
    box = DockerSandbox("tensorjudge-sandbox:latest", warm=0)
    ok, why = box.available()
    if not ok:
        pytest.skip(why)
    return box


@pytest.mark.parametrize("backend", [pytest.param("process", marks=needs_bwrap),
                                     pytest.param("docker", marks=pytest.mark.docker)])
def test_cpu_time_counts_the_case_childs_work_and_not_its_waiting(tmp_path: Path, backend: str) -> None:
    box = ProcessSandbox() if backend == "process" else _docker()
    try:
        wall, cpu, measured = _timed(box, tmp_path / "sleeps", SLEEPS)
        assert len(cpu) == len(wall) == 2  # every repeat has both clocks
        assert min(wall) >= 50_000_000  # the sleep is wall time...
        assert max(cpu) < 25_000_000  # ...and no CPU time
        # Judged by CPU time where the outside can read the run's cgroup (the process backend's
        # own cgroup; a container's where this worker shares the engine's view of it).
        vouched = bool(box.last_cgroup_dirs) if backend == "process" else clocks.CPU in measured
        assert (clocks.CPU in measured) is vouched
        if vouched:
            assert clocks.best(measured) == clocks.CPU and measured[clocks.CPU] < 25.0

        wall, cpu, measured = _timed(box, tmp_path / "spins", SPINS)
        assert min(cpu) >= 50_000_000  # the child's own CPU, not the supervisor's (which waits)
        if vouched:
            # the outside's cgroup reading over the repeats agrees: no bound overrules it
            assert measured[clocks.CPU] == pytest.approx(sorted(cpu)[len(cpu) // 2] / 1e6, rel=0.5)
        print(f"{backend}: judged by {clocks.best(measured)} time")
    finally:
        box.close()


@needs_bwrap
def test_work_done_by_a_helper_process_is_not_missed_by_the_cpu_clock(tmp_path: Path) -> None:
    """A helper's CPU time is counted (a reaped child's, through the child's children's time),
    or, where a helper process is there at a repeat's end, CPU time is not used at all."""
    box = ProcessSandbox()
    try:
        wall, cpu, measured = _timed(box, tmp_path / "forks", FORKS_PER_CALL)
        assert min(wall) >= 50_000_000
        assert not cpu or min(cpu) >= 40_000_000  # the helper's 50 ms, counted in 10 ms ticks
        if clocks.CPU in measured:
            assert measured[clocks.CPU] >= 40.0

        wall, cpu, measured = _timed(box, tmp_path / "helper", KEEPS_A_HELPER)
        assert min(wall) >= 50_000_000
        assert cpu == [] and clocks.best(measured) == clocks.WALL  # judged by wall time
    finally:
        box.close()


def test_a_cuda_case_is_judged_by_wall_time_only() -> None:
    """Kernels run on the device: the host process's CPU time says nothing about them."""
    from sandbox.backends.base import RunResult
    from sandbox.protocol import CaseResult, TimingSample

    def result(device: str) -> tuple[RunResult, CaseSpec]:
        case = CaseSpec(name="t", params={}, dtype="float32", device=device, visibility="public", seed=1,
                        timed=True, mutable_inputs=[])
        sample = TimingSample(trusted_ns=[4_000_000] * 3, self_ns=[1] * 3, cpu_ns=[2_000_000] * 3)
        run = RunResult(cases={"t": CaseResult(case="t", ending=Ending.OK, timing=sample)},
                        windows_ns={"t": (0, 12_000_000)}, started=True, exit_code=0, wall_s=1.0,
                        cpu_windows_ns={"t": (0, 6_000_000)})
        return run, case

    assert clocks.medians(*result("cpu")) == {clocks.WALL: 4.0, clocks.CPU: 2.0}
    assert clocks.medians(*result("cuda")) == {clocks.WALL: 4.0}
