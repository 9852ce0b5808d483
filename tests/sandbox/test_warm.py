"""Warm process sandboxes: runs are handed to sandboxes started ahead (torch imported, nothing
handed to them yet), and nothing one run leaves (files in /tmp, processes, environment) reaches
the next run, which is always another sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import safetensors.torch as st

from sandbox.backends.base import RunSpec
from sandbox.backends.process import ProcessSandbox
from sandbox.protocol import CaseSpec, Ending
from tests.sandbox.jobs import empty_job

pytestmark = pytest.mark.sandbox
needs_bwrap = pytest.mark.skipif(ProcessSandbox().bwrap is None, reason="bubblewrap not installed")

DRIVER = b'''
import os, torch

def generate_inputs(case, seed):
    return {}

def run(sub, inputs, case):
    return {"seen": torch.tensor(sub.f(), dtype=torch.int64)}
'''
# Leaves a file in /tmp, an environment variable and a process that outlives the case, then
# reports what it sees of those: [marker file in /tmp, other processes, variable set].
PROBE = b'''
import os, subprocess

def f():
    seen = [int(os.path.exists("/tmp/tj-redteam-warm")), 0, int("TJ_REDTEAM_WARM" in os.environ)]
    seen[1] = sum(1 for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid()))
    open("/tmp/tj-redteam-warm", "w").write("left behind")
    os.environ["TJ_REDTEAM_WARM"] = "1"
    subprocess.Popen(["sleep", "300"], start_new_session=True)
    return seen
'''


def _spec(tmp_path: Path) -> RunSpec:
    case = CaseSpec(name="probe", params={}, dtype="float32", device="cpu", visibility="public", seed=1,
                    timed=False, mutable_inputs=[])
    return RunSpec(job=empty_job([case]), driver=DRIVER, files={"solution.py": PROBE}, work_root=tmp_path,
                   wall_time_s=60, memory_mb=1024, output_bytes=1 << 20, tmp_mb=16)


def _seen(box: ProcessSandbox, spec: RunSpec) -> list[int]:
    result = box.run(spec)
    outcome = result.outcome("probe")
    assert outcome.ending is Ending.OK, (outcome.message, result.stderr_tail[-800:])
    assert outcome.tensors is not None
    return [int(v) for v in st.load(outcome.tensors)["out.seen"].tolist()]


def _wait_warm(box: ProcessSandbox, n: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(box.waiting()) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(box.waiting()) >= n, box.waiting()


@needs_bwrap
def test_runs_go_to_warm_sandboxes_and_see_nothing_of_earlier_runs(tmp_path: Path) -> None:
    box = ProcessSandbox(warm=2)
    spec = _spec(tmp_path)
    try:
        box.prestart(spec)
        _wait_warm(box, 2)
        for pid, job_dir in box.waiting():  # started ahead, handed nothing: an empty job folder
            assert list(job_dir.iterdir()) == [], pid
        first = _seen(box, spec)
        second = _seen(box, spec)
        assert box.warm_hits == 2
        # Each run found a fresh /tmp, no process but its own harness, a clean environment,
        # although the run before it left all three behind.
        assert first == second == [0, 0, 0]
        _wait_warm(box, 2)  # refilled in the background
    finally:
        box.close()
    assert box.waiting() == []


@needs_bwrap
def test_a_run_waits_for_the_warm_sandbox_being_started_rather_than_start_cold(tmp_path: Path) -> None:
    box = ProcessSandbox(warm=1)
    spec = _spec(tmp_path)
    try:
        box.prestart(spec)
        _wait_warm(box, 1)
        assert _seen(box, spec) == [0, 0, 0]  # takes the warm one; its replacement starts after
        deadline = time.monotonic() + 30
        while not box.starting() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert box.starting() == 1
        # The next run arrives while the replacement is still importing torch: it gets that one
        # (a warm hit) instead of starting a second sandbox beside it.
        assert _seen(box, spec) == [0, 0, 0]
        assert box.warm_hits == 2
    finally:
        box.close()


@needs_bwrap
def test_cold_and_warm_runs_agree(tmp_path: Path) -> None:
    cold = ProcessSandbox(warm=0)
    assert _seen(cold, _spec(tmp_path)) == [0, 0, 0] and cold.warm_hits == 0
    assert cold.waiting() == []


@needs_bwrap
def test_a_killed_workers_job_folders_and_cgroups_are_reclaimed(tmp_path: Path) -> None:
    import socket
    import subprocess

    from sandbox.backends.base import OWNER
    from sandbox.cgroups import Cgroup, CgroupLimits, CgroupUnavailable

    gone = subprocess.Popen(["true"])
    gone.wait()  # a worker pid of this host that no longer exists
    owner = f"{socket.gethostname().replace('-', '_')}-{gone.pid}"
    left = tmp_path / f"tj-run-{owner}-k1ll3d"
    left.mkdir()
    (left / "job.json").write_text("{}")
    ours = tmp_path / f"tj-run-{OWNER}-alive"  # a live process's (this one's): kept
    ours.mkdir()
    elsewhere = tmp_path / f"tj-run-otherhost-{gone.pid}-x"  # another host's: not ours to judge
    elsewhere.mkdir()
    try:
        group: Cgroup | None = Cgroup.create(f"run-{owner}-abc", CgroupLimits(memory_mb=256, pids=16, cpus=1.0))
    except CgroupUnavailable:
        group = None  # no cgroups here: the folders are still reclaimed
    stray = subprocess.Popen(["sleep", "300"], preexec_fn=group.join_self) if group else None
    try:
        assert _seen(ProcessSandbox(warm=0), _spec(tmp_path)) == [0, 0, 0]
        assert not left.exists() and ours.exists() and elsewhere.exists()
        if group is not None and stray is not None:
            assert stray.wait(timeout=10) == -9  # the dead worker's run was killed
            assert not any(d.exists() for d in group.dirs.values())
    finally:
        if stray is not None and stray.poll() is None:
            stray.kill()
