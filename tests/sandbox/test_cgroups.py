"""Per-run cgroups on fake v1 and v2 hierarchies (a folder tree shaped like /sys/fs/cgroup),
and on the real one where this host lets us."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.cgroups import Cgroup, CgroupLimits, CgroupUnavailable, _own_paths, cpu_usage_of, detect_version

LIMITS = CgroupLimits(memory_mb=512, pids=64, cpus=1.5)


def _fake_v1(root: Path) -> None:
    for controller, files in {
        "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control",
                   "memory.failcnt", "memory.max_usage_in_bytes"],
        "pids": ["pids.max"],
        "cpu": ["cpu.cfs_period_us", "cpu.cfs_quota_us"],
    }.items():
        (root / controller).mkdir(parents=True)
        for f in files:
            (root / controller / f).write_text("0\n")


def test_fake_v1_tree_gets_limits_under_our_own_cgroup(tmp_path: Path) -> None:
    _fake_v1(tmp_path)
    assert detect_version(tmp_path) == 1
    own = "4:memory:/jobs/abc\n8:pids:/\n1:cpu,cpuacct:/\n"
    group = Cgroup.create("run-1", LIMITS, root=tmp_path, self_cgroup=own)
    mem = tmp_path / "memory/jobs/abc/tensorjudge/run-1"
    assert group.dirs["memory"] == mem
    assert (mem / "memory.limit_in_bytes").read_text() == str(512 << 20)
    assert (tmp_path / "pids/tensorjudge/run-1/pids.max").read_text() == "64"
    assert (tmp_path / "cpu/tensorjudge/run-1/cpu.cfs_quota_us").read_text() == "150000"
    assert sorted(group.procs_files()) == sorted(str(d / "cgroup.procs") for d in group.dirs.values())
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not group.oom_killed()
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.oom_killed()


def test_fake_v2_tree_enables_controllers_and_reads_oom_events(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "tensorjudge").mkdir()
    (tmp_path / "tensorjudge/cgroup.subtree_control").write_text("")
    assert detect_version(tmp_path) == 2
    group = Cgroup.create("run-2", LIMITS, root=tmp_path, self_cgroup="0::/user.slice\n")
    path = tmp_path / "tensorjudge/run-2"
    assert (path / "memory.max").read_text() == str(512 << 20)
    assert (path / "pids.max").read_text() == "64"
    assert (path / "cpu.max").read_text() == "150000 100000"
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_killed()
    (path / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    assert group.cpu_usage_ns() == 2_500_000


def test_no_hierarchy_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CgroupUnavailable):
        Cgroup.create("run-3", LIMITS, root=tmp_path, self_cgroup="0::/\n")


def _real_cgroups() -> bool:
    try:
        group = Cgroup.create(f"probe-{os.getpid()}", LIMITS)
    except (CgroupUnavailable, OSError):
        return False
    group.remove()
    return True


@pytest.mark.skipif(not _real_cgroups(), reason="cgroups are not writable here")
def test_real_cgroup_limits_kill_and_cleanup() -> None:
    import subprocess

    group = Cgroup.create(f"test-{os.getpid()}", CgroupLimits(memory_mb=64, pids=16))
    try:
        proc = subprocess.Popen(
            ["python3", "-c", "x = bytearray(b'1' * (256 << 20))"], preexec_fn=group.join_self,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        proc.wait(timeout=60)
        assert proc.returncode == -9  # the OOM killer, inside the cgroup only
        assert group.oom_killed()
        sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=group.join_self)
        assert sleeper.pid in group.pids()
        assert group.kill_all()
        sleeper.wait(timeout=10)
    finally:
        group.kill_all()
        group.remove()
    assert not any(d.exists() for d in group.dirs.values())


@pytest.mark.skipif(not _real_cgroups(), reason="cgroups are not writable here")
def test_a_real_cgroup_accounts_the_cpu_time_of_its_processes_only() -> None:
    """What a timed CPU case's outside cross-check reads: CPU spent inside the cgroup, not
    time passing (a sleeper adds nothing) and not CPU spent outside it."""
    import subprocess

    group = Cgroup.create(f"test-{os.getpid()}", CgroupLimits(memory_mb=256, pids=16))
    try:
        before = group.cpu_usage_ns()
        if before is None:
            pytest.skip("this host keeps no CPU accounting for the cgroup")
        sleeper = subprocess.run(["python3", "-c", "import time; time.sleep(0.5)"], preexec_fn=group.join_self)
        slept = group.cpu_usage_ns()
        burner = subprocess.run(["python3", "-c", "import time\nt = time.process_time()\n"
                                 "while time.process_time() - t < 0.5: pass"], preexec_fn=group.join_self)
        burned = group.cpu_usage_ns()
        assert sleeper.returncode == burner.returncode == 0
        assert slept is not None and burned is not None
        assert burned - slept >= 450_000_000  # the busy loop's half second, at least
        assert slept - before < burned - slept - 300_000_000  # the sleeper's start-up, no more
    finally:
        group.kill_all()
        group.remove()


def test_v1_accounting_comes_from_a_separate_cpuacct_hierarchy(tmp_path: Path) -> None:
    for controller in ("memory", "pids", "cpu", "cpuacct"):
        (tmp_path / controller).mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("0")
    group = Cgroup.create("run-9", LIMITS, root=tmp_path, self_cgroup="4:memory:/\n0::/\n")
    assert set(group.dirs) == {"memory", "pids", "cpu", "cpuacct"}
    (group.dirs["cpuacct"] / "cpuacct.usage").write_text("123456789\n")
    assert group.cpu_usage_ns() == 123456789
    assert str(group.dirs["cpuacct"] / "cgroup.procs") in group.procs_files()  # joined too


def test_v1_accounting_of_cpu_and_cpuacct_mounted_together(tmp_path: Path) -> None:
    for controller in ("memory", "pids", "cpu,cpuacct"):
        (tmp_path / controller).mkdir()
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    (tmp_path / "cpuacct").symlink_to("cpu,cpuacct")
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("0")
    group = Cgroup.create("run-10", LIMITS, root=tmp_path, self_cgroup="4:memory:/\n0::/\n")
    assert set(group.dirs) == {"memory", "pids", "cpu"}  # one directory holds both
    assert group.cpu_usage_ns() is None  # nothing accounted yet in this fake tree
    (group.dirs["cpu"] / "cpuacct.usage").write_text("42\n")
    assert group.cpu_usage_ns() == 42


def test_the_cpu_usage_of_another_process_cgroup_is_read_from_its_proc_entry(tmp_path: Path) -> None:
    """How the docker backend reads a container's CPU usage: its init's /proc/<pid>/cgroup."""
    assert cpu_usage_of(2**22 + 7, root=tmp_path) is None  # no such process
    own = _own_paths(Path("/proc/self/cgroup").read_text())
    if "" in own:  # a v2 entry: shape a unified tree at our own path
        (tmp_path / "cgroup.controllers").write_text("cpu\n")
        leaf = tmp_path / own[""].lstrip("/")
        leaf.mkdir(parents=True, exist_ok=True)
        (leaf / "cpu.stat").write_text("usage_usec 7\n")
        reader = cpu_usage_of(os.getpid(), root=tmp_path)
        assert reader is not None and reader() == 7000
    if "cpuacct" in own:
        leaf = tmp_path / "cpuacct" / own["cpuacct"].lstrip("/")
        leaf.mkdir(parents=True, exist_ok=True)
        (leaf / "cpuacct.usage").write_text("99\n")
        if not (tmp_path / "cgroup.controllers").exists():
            reader = cpu_usage_of(os.getpid(), root=tmp_path)
            assert reader is not None and reader() == 99
