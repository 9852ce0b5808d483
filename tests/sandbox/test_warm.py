"""Warm process sandboxes: runs are handed to sandboxes started ahead (torch imported, nothing
handed to them yet), and nothing one run leaves (files in /tmp, processes, environment) reaches
the next run. Single-use warm sandboxes (zygote=False: where no cgroup can hold a zygote) serve
one run each; zygotes serve many, one after another (tests/sandbox/test_zygote.py has more)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.backends.base import RunSpec
from sandbox.backends.process import ProcessSandbox
from tests.sandbox.jobs import probe_seen, probe_spec

pytestmark = pytest.mark.sandbox
needs_bwrap = pytest.mark.skipif(ProcessSandbox().bwrap is None, reason="bubblewrap not installed")

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
    return probe_spec(tmp_path, PROBE)


_seen = probe_seen


def _wait_warm(box: ProcessSandbox, n: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(box.waiting()) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(box.waiting()) >= n, box.waiting()


@needs_bwrap
@pytest.mark.parametrize("zygote", [False, True], ids=["single-use", "zygote"])
def test_runs_go_to_warm_sandboxes_and_see_nothing_of_earlier_runs(tmp_path: Path, zygote: bool) -> None:
    box = ProcessSandbox(warm=2, zygote=zygote)
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
def test_a_run_waits_for_the_warm_sandbox_being_started_rather_than_start_cold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    box = ProcessSandbox(warm=1, zygote=False)
    spec = _spec(tmp_path)
    real, gate, cold = box._start, threading.Event(), []

    def held_launch(spec: RunSpec, warm: bool = False) -> object:  # as a container start can take a while
        if warm:
            gate.wait(30)
        else:
            cold.append(spec)
        return real(spec, warm)

    try:
        box.prestart(spec)
        _wait_warm(box, 1)
        monkeypatch.setattr(box, "_start", held_launch)
        assert _seen(box, spec) == [0, 0, 0]  # takes the warm one; its replacement is held launching
        assert box.starting() == 1
        seen: list[list[int]] = []
        second = threading.Thread(target=lambda: seen.append(_seen(box, spec)))
        second.start()  # arrives while the replacement is launching: waits for it
        time.sleep(0.5)
        gate.set()
        second.join(60)
        assert seen == [[0, 0, 0]]
        assert box.warm_hits == 2 and cold == []  # no sandbox started cold beside the launching one
    finally:
        gate.set()
        box.close()


SLOW = b'''
import time

def f():
    time.sleep(4)
    return [0, 0, 0]
'''


def _cpu_share(pid: int) -> str | None:
    """The cpu.shares (cgroup v1) or cpu.weight (v2) of the cgroup that holds `pid`."""
    from sandbox.cgroups import CGROUP_ROOT

    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return (CGROUP_ROOT / "cpu" / path.lstrip("/") / "cpu.shares").read_text().strip()
        if controllers == "" and (CGROUP_ROOT / path.lstrip("/") / "cpu.weight").exists():
            return (CGROUP_ROOT / path.lstrip("/") / "cpu.weight").read_text().strip()
    return None


@needs_bwrap
def test_warm_sandboxes_start_during_a_run_with_the_least_cpu_share_and_get_it_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from sandbox.cgroups import Cgroup

    box = ProcessSandbox(warm=1, zygote=False)
    spec = _spec(tmp_path)
    given_back: list[str] = []
    real = Cgroup.set_cpu_low

    def spy(group: Cgroup, low: bool) -> bool:
        done = real(group, low)
        if not low:  # what the cgroup file says right after the share is given back
            given_back.extend((d / name).read_text().strip() for d in group.dirs.values()
                              for name in ("cpu.shares", "cpu.weight") if (d / name).exists())
        return done

    monkeypatch.setattr(Cgroup, "set_cpu_low", spy)
    try:
        box.prestart(spec)
        _wait_warm(box, 1)
        [(pid, _)] = box.waiting()
        share = _cpu_share(pid)
        if share is None:
            pytest.skip("no cgroup CPU controller here: warm sandboxes wait for a quiet moment instead")
        assert share in ("2", "1")  # v1 cpu.shares / v2 cpu.weight: the least share
        slow = replace(spec, files={"solution.py": SLOW})
        running = threading.Thread(target=_seen, args=(box, slow))
        running.start()  # takes the warm sandbox and holds it for 4 s
        deadline = time.monotonic() + 3.5
        while not box.waiting() and time.monotonic() < deadline:
            time.sleep(0.05)
        started_during_the_run = box.waiting()
        running.join()
        # The replacement did not wait for the run to end; before, it waited for a quiet moment.
        assert len(started_during_the_run) == 1 and started_during_the_run[0][0] != pid
        assert given_back and set(given_back) <= {"1024", "100"}  # the run got the normal share back
        assert _cpu_share(started_during_the_run[0][0]) in ("2", "1")
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
        zygote: Cgroup | None = Cgroup.create(f"zygote-{owner}-def", CgroupLimits(memory_mb=256, pids=16, cpus=1.0))
    except CgroupUnavailable:
        group = zygote = None  # no cgroups here: the folders are still reclaimed
    stray = subprocess.Popen(["sleep", "300"], preexec_fn=group.join_self) if group else None
    try:
        assert _seen(ProcessSandbox(warm=0), _spec(tmp_path)) == [0, 0, 0]
        assert not left.exists() and ours.exists() and elsewhere.exists()
        if group is not None and stray is not None:
            assert stray.wait(timeout=10) == -9  # the dead worker's run was killed
            assert not any(d.exists() for d in group.dirs.values())
            assert zygote is not None and not any(d.exists() for d in zygote.dirs.values())
    finally:
        if stray is not None and stray.poll() is None:
            stray.kill()
