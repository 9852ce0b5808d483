"""Zygotes: one warm process sandbox serves many runs, one after another, each in a fork that
joins the run's own cgroup and enters namespaces and mounts of its own before it reads its job.
These tests attack what a zygote shares between runs (the zygote process, its sandbox's pid and
network namespaces, its mounts) and check that nothing of one run reaches the next."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.backends.base import RunSpec
from sandbox.backends.process import ProcessSandbox
from sandbox.cgroups import CgroupUnavailable, detect_version
from sandbox.protocol import Ending
from tests.sandbox.jobs import probe_seen, probe_spec


def _cgroups_ok() -> bool:
    try:
        detect_version()
    except CgroupUnavailable:
        return False
    return True


pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(ProcessSandbox().bwrap is None, reason="bubblewrap not installed"),
    pytest.mark.skipif(not _cgroups_ok(), reason="no cgroups here: warm sandboxes are single-use"),
]

# What each run finds of what the run before it left, then leaves the same behind:
# [file in /tmp, file in /dev/shm, System V shared memory segment, other processes than the
#  zygote, the supervisor and us, entries under /jobs, files in /job besides our own job,
#  signal to the zygote (pid 1) delivered, zygote's environment readable]
PROBE = b'''
import ctypes, os, signal, subprocess

IPC_CREAT, KEY = 0o1000, 0x7E57

def f():
    libc = ctypes.CDLL(None, use_errno=True)
    seen = [int(os.path.exists("/tmp/tj-left")), int(os.path.exists("/dev/shm/tj-left")),
            int(libc.shmget(KEY, 4096, 0o600) != -1)]
    seen.append(sum(1 for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())))
    try:
        seen.append(len(os.listdir("/jobs")))
    except OSError:
        seen.append(0)
    seen.append(len(set(os.listdir("/job")) - {"job.json", "driver.py", "submission"}))
    try:
        os.kill(1, signal.SIGTERM)
        seen.append(1)
    except OSError:
        seen.append(0)
    try:
        open("/proc/1/environ", "rb").read()
        seen.append(1)
    except OSError:
        seen.append(0)
    open("/tmp/tj-left", "w").write("left")
    open("/dev/shm/tj-left", "w").write("left")
    libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
    subprocess.Popen(["sleep", "300"], start_new_session=True)
    return seen
'''
CLEAN = [0] * 8


def _spec(tmp_path: Path, source: bytes = PROBE) -> RunSpec:
    return probe_spec(tmp_path, source)


_seen = probe_seen


def _ready(box: ProcessSandbox, spec: RunSpec, n: int = 1) -> list[tuple[int, Path]]:
    box.prestart(spec)
    deadline = time.monotonic() + 120
    while len(box.waiting()) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    waiting = box.waiting()
    assert len(waiting) == n, (waiting, box.zygote_off)
    return waiting


def test_one_zygote_serves_runs_in_turn_and_none_sees_the_last(tmp_path: Path) -> None:
    box = ProcessSandbox(warm=1)
    spec = _spec(tmp_path)
    try:
        [(zygote_pid, jobs_dir)] = _ready(box, spec)
        seen = [_seen(box, spec) for _ in range(3)]
        assert box.zygote_off is None and box.warm_hits == 3
        # The same zygote served all three (it is never handed over to a run) ...
        assert box.waiting() == [(zygote_pid, jobs_dir)]
        assert list(jobs_dir.iterdir()) == []  # each run's job folder is gone after it
        # ... and each run found a fresh /tmp and /dev/shm, no IPC object, no process of the run
        # before (a `sleep` in its own session), no other job folder, and could neither signal
        # the zygote nor read its environment.
        assert seen == [CLEAN] * 3
    finally:
        box.close()
    assert box.waiting() == []


SLOW = b'''
import time

def f():
    time.sleep(2)
    return [0]
'''


def _run_cgroup_procs(box: ProcessSandbox) -> set[int]:
    """The processes in the running run's own cgroup, once it has one (within 10 s)."""
    deadline = time.monotonic() + 10
    procs: set[int] = set()
    while not procs and time.monotonic() < deadline:
        time.sleep(0.05)
        dirs = [Path(d) for d in box.last_cgroup_dirs]
        if dirs and all(d.exists() for d in dirs):
            procs = {int(x) for d in dirs for x in (d / "cgroup.procs").read_text().split()}
    return procs


def test_each_run_is_in_a_cgroup_of_its_own_not_the_zygotes(tmp_path: Path) -> None:
    box = ProcessSandbox(warm=1)
    spec = _spec(tmp_path, SLOW)
    try:
        [(zygote_pid, _)] = _ready(box, spec)
        running = threading.Thread(target=_seen, args=(box, spec))
        running.start()
        procs = _run_cgroup_procs(box)
        running.join()
        assert len(procs) >= 2, procs  # the run's supervisor and its case child
        zygote = {int(x) for x in Path(f"/proc/{zygote_pid}/task/{zygote_pid}/children").read_text().split()}
        assert zygote and not zygote & procs  # the zygote stays in its own cgroup
        assert not any(Path(d).exists() for d in box.last_cgroup_dirs)  # removed after the run
    finally:
        box.close()


def _children(pid: int) -> set[int]:
    try:
        return {int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _one_child(pid: int, other_than: int = 0) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = _children(pid) - {other_than}
        if len(kids) == 1 and not _children(pid) & {other_than}:
            return kids.pop()
        time.sleep(0.02)
    raise AssertionError(f"no single child of {pid}: {_children(pid)}")


def test_the_next_runs_process_is_forked_ahead_and_becomes_its_supervisor(tmp_path: Path) -> None:
    # An idle zygote holds one fork made ahead (off the run's critical path); the next run's
    # processes in the run's own cgroup include it, and after the run another one waits.
    box = ProcessSandbox(warm=1)
    spec = _spec(tmp_path, SLOW)
    try:
        [(bwrap_pid, _)] = _ready(box, spec)
        zygote = _one_child(bwrap_pid)
        ahead = _one_child(zygote)
        running = threading.Thread(target=_seen, args=(box, spec))
        running.start()
        procs = _run_cgroup_procs(box)
        running.join()
        assert ahead in procs, (ahead, procs)
        assert _one_child(zygote, other_than=ahead) != ahead
    finally:
        box.close()


BOMB = b'''
def f():
    hold = []
    while True:
        hold.append(bytearray(64 << 20))
'''


def test_a_run_killed_for_memory_leaves_the_zygote_serving(tmp_path: Path) -> None:
    box = ProcessSandbox(warm=1)
    spec = replace(_spec(tmp_path, BOMB), memory_mb=256)
    try:
        [(zygote_pid, _)] = _ready(box, spec)
        result = box.run(spec)
        assert result.outcome("probe").ending in (Ending.MEMORY_KILLED, Ending.OOM, Ending.RUN_OOM), result
        assert box.waiting() == [(zygote_pid, box.waiting()[0][1])]
        assert _seen(box, _spec(tmp_path)) == CLEAN and box.warm_hits == 2
    finally:
        box.close()


def test_a_run_that_cannot_isolate_itself_runs_cold_and_turns_zygotes_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.backends.process as process

    box = ProcessSandbox(warm=1)
    spec = _spec(tmp_path)
    try:
        _ready(box, spec)
        # An order the fork must refuse (not a job folder's name): it reports that it could not
        # isolate itself, and never runs the job half isolated.
        monkeypatch.setattr(process, "_order", lambda job_dir, spec: {"job": "..", "tmp_mb": 16, "cpu_s": 60})
        assert _seen(box, spec) == CLEAN  # run cold instead, with the same result
        assert box.zygote_off is not None and "not a job folder" in box.zygote_off
        assert box.warm_hits == 0 and box.waiting() == []
    finally:
        box.close()


def test_runs_at_once_beyond_the_zygotes_start_cold_and_agree(tmp_path: Path) -> None:
    box = ProcessSandbox(warm=1)
    spec = _spec(tmp_path)
    try:
        _ready(box, spec)
        results: list[list[int]] = []
        threads = [threading.Thread(target=lambda: results.append(_seen(box, spec))) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [CLEAN, CLEAN]
        assert box.warm_hits >= 1
    finally:
        box.close()


def test_the_setting_keeps_warm_sandboxes_single_use(tmp_path: Path) -> None:
    from core.sandboxing import get_backend
    from core.settings import Settings

    on = get_backend(Settings(_env_file=None, data_dir=tmp_path, sandbox="process", sandbox_warm=1))  # type: ignore[call-arg]
    off = get_backend(Settings(_env_file=None, data_dir=tmp_path, sandbox="process", sandbox_warm=1,  # type: ignore[call-arg]
                               sandbox_zygote=False))
    assert isinstance(on, ProcessSandbox) and isinstance(off, ProcessSandbox)
    assert on.zygotes_on() and not off.zygotes_on()
    spec = _spec(tmp_path)
    try:
        assert _seen(off, spec) == CLEAN
        [(pid, job_dir)] = _ready(off, spec)
        assert _seen(off, spec) == CLEAN and off.warm_hits == 1
        assert off.waiting() != [(pid, job_dir)]  # the single-use sandbox was replaced, not reused
    finally:
        off.close()


UNDER_TMP = b'''
import os

def f():
    seen = [int(os.path.exists("/tmp/tj-under-tmp/data/marker"))]
    try:
        open("/tmp/tj-under-tmp/data/written", "w").write("x")
        seen.append(1)
    except OSError:
        seen.append(0)
    open("/tmp/own-file", "w").write("x")  # the rest of /tmp is the run's own, writable
    return seen
'''


def test_binds_under_tmp_stay_visible_and_read_only_under_each_runs_fresh_tmp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout or Python environment under the host's /tmp is bound at its own path under
    the sandbox's /tmp (a clean clone in /tmp runs CI so): the fresh /tmp each run mounts must
    keep it, read-only."""
    import os
    import shutil
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="tj-bind-"))
    try:
        os.chmod(data, 0o755)
        (data / "marker").write_text("here")
        os.chmod(data / "marker", 0o644)
        real = ProcessSandbox._binds
        monkeypatch.setattr(ProcessSandbox, "_binds",
                            lambda self: [*real(self), "--ro-bind", str(data), "/tmp/tj-under-tmp/data"])
        box = ProcessSandbox(warm=1)
        spec = _spec(tmp_path, UNDER_TMP)
        try:
            _ready(box, spec)
            assert _seen(box, spec) == [1, 0] and _seen(box, spec) == [1, 0]
            assert box.warm_hits == 2 and box.zygote_off is None
        finally:
            box.close()
        assert sorted(p.name for p in data.iterdir()) == ["marker"]
    finally:
        shutil.rmtree(data, ignore_errors=True)


LIMITS = b'''
import resource

def f():
    return [resource.getrlimit(resource.RLIMIT_FSIZE)[0] >> 20, resource.getrlimit(resource.RLIMIT_CPU)[0] > 0]
'''


def test_a_zygote_run_gets_the_file_size_and_cpu_rlimits_of_a_cold_run(tmp_path: Path) -> None:
    cold, warm = ProcessSandbox(warm=0), ProcessSandbox(warm=1)
    spec = _spec(tmp_path, LIMITS)
    try:
        _ready(warm, spec)
        assert _seen(warm, spec) == _seen(cold, spec) == [16, 1] and warm.warm_hits == 1
    finally:
        warm.close()
