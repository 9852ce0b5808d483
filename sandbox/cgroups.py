"""Per-run cgroups: memory, pids and CPU limits, OOM detection and a sure kill, on v1 and v2.

A run's cgroup is created under the judge's own cgroup (so whatever limits the judge runs
under still apply), the sandbox joins it before bubblewrap is exec'd (nothing of the run ever
runs outside it), and afterwards every process left in it is killed and the cgroup removed.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
# Joined where the host mounts it apart from cpu (where they share one hierarchy, cpu's
# directory holds the accounting): what a run's CPU usage is read from on v1.
V1_OPTIONAL = ("cpuacct",)


class CgroupUnavailable(RuntimeError):
    """cgroups cannot be created here (not mounted, read-only, or no permission)."""


@dataclass(frozen=True)
class CgroupLimits:
    """What one run may use. memory covers every process of the sandbox (harness included)."""

    memory_mb: int
    pids: int
    cpus: float = 1.0
    cpu_period_us: int = 100_000


def _own_paths(text: str) -> dict[str, str]:
    """controller -> path of this process's cgroup, from /proc/self/cgroup ("" is the v2 entry)."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def detect_version(root: Path = CGROUP_ROOT) -> int:
    """1 when the v1 memory hierarchy is mounted (hybrid hosts included), 2 on unified hosts."""
    if (root / "memory" / "memory.limit_in_bytes").exists():
        return 1
    if (root / "cgroup.controllers").exists():
        return 2
    raise CgroupUnavailable(f"no cgroup hierarchy under {root}")


class Cgroup:
    """One run's cgroup (a directory per controller on v1, one directory on v2)."""

    def __init__(self, version: int, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs

    # ---- creation ----

    @classmethod
    def create(cls, name: str, limits: CgroupLimits, root: Path = CGROUP_ROOT,
               self_cgroup: str | None = None) -> Cgroup:
        """Create the cgroup with its limits set, or raise CgroupUnavailable."""
        if self_cgroup is None:
            self_cgroup = Path("/proc/self/cgroup").read_text()
        own = _own_paths(self_cgroup)
        version = detect_version(root)
        try:
            if version == 1:
                group = cls._create_v1(name, limits, root, own)
            else:
                group = cls._create_v2(name, limits, root)
        except OSError as exc:
            raise CgroupUnavailable(f"cannot set up cgroup {name}: {exc}") from exc
        return group

    @classmethod
    def _create_v1(cls, name: str, limits: CgroupLimits, root: Path, own: dict[str, str]) -> Cgroup:
        dirs: dict[str, Path] = {}
        group = cls(1, dirs)
        try:
            for controller in V1_CONTROLLERS:
                base = _v1_base(root, controller, own)
                base.mkdir(parents=True, exist_ok=True)
                path = base / name
                path.mkdir()
                dirs[controller] = path
            mem = dirs["memory"]
            limit = str(limits.memory_mb << 20)
            _write(mem / "memory.limit_in_bytes", limit)
            if (mem / "memory.memsw.limit_in_bytes").exists():
                _write(mem / "memory.memsw.limit_in_bytes", limit)  # no swapping past the limit
            if (mem / "memory.swappiness").exists():
                try:
                    _write(mem / "memory.swappiness", "0")
                except OSError:
                    pass
            _write(dirs["pids"] / "pids.max", str(limits.pids))
            cpu = dirs["cpu"]
            _write(cpu / "cpu.cfs_period_us", str(limits.cpu_period_us))
            _write(cpu / "cpu.cfs_quota_us", str(max(1000, int(limits.cpus * limits.cpu_period_us))))
        except OSError:
            group.remove()
            raise
        for controller in V1_OPTIONAL:
            if not _separate_v1(root, controller):
                continue
            base = _v1_base(root, controller, own)
            try:
                base.mkdir(parents=True, exist_ok=True)
                (base / name).mkdir()
                dirs[controller] = base / name
            except OSError as exc:  # accounting only: the run goes on without it
                log.debug("no %s cgroup for %s: %s", controller, name, exc)
        return group

    @classmethod
    def _create_v2(cls, name: str, limits: CgroupLimits, root: Path) -> Cgroup:
        # The root may host processes and still delegate controllers, unlike a leaf we live in.
        base = root / "tensorjudge"
        _enable_controllers(root)
        base.mkdir(exist_ok=True)
        _enable_controllers(base)
        path = base / name
        path.mkdir()
        group = cls(2, {"unified": path})
        try:
            _write(path / "memory.max", str(limits.memory_mb << 20))
            if (path / "memory.swap.max").exists():
                _write(path / "memory.swap.max", "0")
            _write(path / "pids.max", str(limits.pids))
            quota = max(1000, int(limits.cpus * limits.cpu_period_us))
            _write(path / "cpu.max", f"{quota} {limits.cpu_period_us}")
        except OSError:
            group.remove()
            raise
        return group

    # ---- use ----

    def procs_files(self) -> list[str]:
        """The cgroup.procs files a process writes its pid to in order to join."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def join_self(self) -> None:
        """Move the calling process into the cgroup (async-signal-safe enough for preexec_fn)."""
        pid = str(os.getpid()).encode()
        for path in self.procs_files():
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def add(self, pid: int) -> None:
        """Move another process (a pid of our namespace) into the cgroup; OSError if refused."""
        for path in self.procs_files():
            _write(Path(path), str(pid))

    def set_cpu_low(self, low: bool) -> bool:
        """Give the cgroup the least CPU share next to its siblings (low) or the default share
        back. CPU time is only divided this way when cores are contended: a low group still gets
        any core nobody else wants. False where the kernel does not let us set it."""
        if self.version == 2:
            path, value = self.dirs["unified"] / "cpu.weight", "1" if low else "100"
        else:
            path, value = self.dirs["cpu"] / "cpu.shares", "2" if low else "1024"
        try:
            _write(path, value)
        except OSError:
            return False
        return True

    def cpu_usage_ns(self) -> int | None:
        """CPU time every process of the cgroup has spent so far (the kernel's accounting), or
        None where this host does not keep it for the cgroup."""
        if self.version == 2:
            return _usage_ns(self.dirs["unified"] / "cpu.stat")
        found = (_usage_ns(self.dirs[c] / "cpuacct.usage") for c in ("cpuacct", "cpu") if c in self.dirs)
        return next((ns for ns in found if ns is not None), None)

    def pids(self) -> set[int]:
        """Every process in the cgroup now."""
        found: set[int] = set()
        for d in self.dirs.values():
            try:
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return found

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer acted in this cgroup."""
        if self.version == 2:
            events = _kv(self.dirs["unified"] / "memory.events")
            return events.get("oom_kill", 0) > 0 or events.get("oom", 0) > 0
        mem = self.dirs["memory"]
        control = _kv(mem / "memory.oom_control")
        if "oom_kill" in control:
            return control["oom_kill"] > 0 or control.get("under_oom", 0) > 0
        return control.get("under_oom", 0) > 0 or _int(mem / "memory.failcnt") > 0

    def memory_peak_bytes(self) -> int:
        """High-water mark of the run's memory use (0 where the kernel does not say)."""
        if self.version == 2:
            return _int(self.dirs["unified"] / "memory.peak")
        return _int(self.dirs["memory"] / "memory.max_usage_in_bytes")

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL everything in the cgroup until it is empty; True when it emptied."""
        if self.version == 2 and (self.dirs["unified"] / "cgroup.kill").exists():
            try:
                _write(self.dirs["unified"] / "cgroup.kill", "1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if time.monotonic() > deadline:
                log.warning("cgroup %s still has processes %s", self.dirs, sorted(pids))
                return False
            time.sleep(0.02)

    def remove(self) -> None:
        """Remove the cgroup directories (they must be empty of processes)."""
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                log.warning("could not remove cgroup %s", d)
            # The shared parent goes too once no run uses it, so our host's cgroup tree is left
            # as we found it (a concurrent run keeps it busy: rmdir then just fails).
            if d.parent.name == "tensorjudge":
                try:
                    d.parent.rmdir()
                except OSError:
                    pass


def cpu_usage_of(pid: int, root: Path = CGROUP_ROOT) -> Callable[[], int | None] | None:
    """A reader of the CPU usage (ns) of the cgroup process `pid` belongs to (a container's,
    found from its init process), or None where this process cannot read it (another pid or
    cgroup namespace, no accounting). Read once here to be sure it works."""
    try:
        own = _own_paths(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    candidates = []
    if "" in own and (root / "cgroup.controllers").exists():
        candidates.append(root / own[""].lstrip("/") / "cpu.stat")
    candidates += [root / c / own[c].lstrip("/") / "cpuacct.usage" for c in ("cpuacct", "cpu") if c in own]
    for path in candidates:
        if _usage_ns(path) is not None:
            return functools.partial(_usage_ns, path)
    return None


def _usage_ns(path: Path) -> int | None:
    """CPU usage in ns from a v2 `cpu.stat` (its usage_usec) or a v1 `cpuacct.usage`; None
    where the file is not there or says nothing usable."""
    if path.name == "cpu.stat":
        usec = _kv(path).get("usage_usec")
        return None if usec is None else usec * 1000
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _v1_base(root: Path, controller: str, own: dict[str, str]) -> Path:
    """Where our cgroups live in a v1 hierarchy: under this process's own cgroup there."""
    return root / controller / own.get(controller, "/").lstrip("/") / "tensorjudge"


def _separate_v1(root: Path, controller: str) -> bool:
    """Whether a v1 controller is mounted as a hierarchy of its own (not beside cpu)."""
    path = root / controller
    try:
        return path.is_dir() and path.resolve() != (root / "cpu").resolve()
    except OSError:
        return False


def _enable_controllers(path: Path) -> None:
    ctl = path / "cgroup.subtree_control"
    wanted = [c for c in ("memory", "pids", "cpu") if c not in ctl.read_text().split()]
    for controller in wanted:
        try:
            _write(ctl, f"+{controller}")
        except OSError as exc:
            raise CgroupUnavailable(f"cannot enable the {controller} controller in {path}: {exc}") from exc


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def _int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def sweep(owner_dead: Callable[[str], bool], root: Path = CGROUP_ROOT, self_cgroup: str | None = None) -> int:
    """Kill and remove the run and zygote cgroups (`tensorjudge/run-...`, `zygote-...`) whose owner, named in the
    cgroup's name, `owner_dead` says is gone (a worker SIGKILLed mid-run). How many went."""
    if self_cgroup is None:
        try:
            self_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            return 0
    try:
        version = detect_version(root)
    except (OSError, CgroupUnavailable):
        return 0
    own = _own_paths(self_cgroup)
    v1 = [*V1_CONTROLLERS, *(c for c in V1_OPTIONAL if _separate_v1(root, c))]
    bases = ({"unified": root / "tensorjudge"} if version == 2 else
             {c: _v1_base(root, c, own) for c in v1})
    groups: dict[str, dict[str, Path]] = {}
    for controller, base in bases.items():
        if not base.is_dir():
            continue
        for d in base.iterdir():
            kind, _, owner = d.name.partition("-")
            if d.is_dir() and kind in ("run", "zygote") and owner_dead(owner):
                groups.setdefault(d.name, {})[controller] = d
    for dirs in groups.values():
        group = Cgroup(version, dirs)
        group.kill_all(timeout_s=2.0)
        group.remove()
    return len(groups)
