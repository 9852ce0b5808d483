"""The production backend: one Docker container per run.

Same harness and result contract as the process sandbox. The container runs the supervisor as a
non-root uid with no network, a read-only root, tmpfs work dirs, no capabilities,
no-new-privileges, memory/pids/CPU limits and, on GPU workers, only the GPUs it is given;
optionally under gVisor (runtime="runsc").

Result channel: a container cannot inherit a descriptor from us, so the supervisor's result
frames travel on the container's attached stdout (attached before the container starts, read
raw, never through a log driver). The supervisor moves that stdout to a private descriptor at
start-up and points fd 1 at stderr; each case child gets its stdout/stderr redirected to a pipe
the supervisor drains, so nothing the student prints can reach the channel.

Warm containers, as warm process sandboxes (see backends/process.py and docs/threat-model.md):
every container starts with an empty job folder and a supervisor that installs our syscall
filter, imports torch and waits for the job file to appear; a run is handed over by writing its
job folder (the job file last). With `warm` > 0 that many are kept started ahead per shape of
run; each serves one run and is then removed.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import socket
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sandbox import cgroups, protocol
from sandbox.backends.base import (
    ResultReader,
    RunResult,
    RunSpec,
    fill_job_dir,
    harness_env,
    make_job_dir,
    shelve,
    sweep_job_dirs,
    take_warm,
    wait_for_starts,
)
from sandbox.protocol import Ending, Job

JOB_INSIDE = "/job"
JUDGE_INSIDE = "/judge"
HARNESS_OVERHEAD_MB = 768
STDERR_KEEP = 64 << 10
WARM_MAX_IDLE_S = 600.0
# A warm container starts at once, even while runs are going, with the least CPU share (its
# torch import only gets a core no run wants: it must not slow a running submission's timed
# cases); the run that takes it gives it the normal share back. As in process.py.
LOW_CPU_SHARES, CPU_SHARES = 2, 1024
WARM_SHAPES = 2  # at most this many shapes of run keep warm containers at once
def _started(pid: int) -> str:
    """When a process started (clock ticks since boot), so that a pid reused by another process
    (a restarted worker container numbers its processes from 1 again) is not taken for it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


# Which worker process started a container: host, pid and that process's start time.
_OWNER = f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


@dataclass
class _Container:
    """One started container, waiting for (or running) its one run."""

    key: tuple[object, ...]
    container: Any
    job_dir: Path
    result_r: int
    pump: threading.Thread
    waiter: threading.Thread
    stderr: bytearray
    status: dict[str, Any] = field(default_factory=dict)
    born: float = field(default_factory=time.monotonic)
    low: bool = False  # started with the least CPU share (a warm start), to be given it back


class DockerSandbox:
    """One container per run, through the Docker SDK (`client` is injectable for tests)."""

    name = "docker"

    def __init__(self, image: str, runtime: str | None = None, client: Any = None,
                 uid: int = 65534, python: str = "/opt/venv/bin/python", warm: int = 0) -> None:
        self.image = image
        self.runtime = runtime
        self.uid = uid
        self.python = python
        self._client = client
        self._given = client is not None  # a client handed in is the caller's to keep
        self.warm = max(0, warm)
        self.warm_hits = 0
        self._slots: dict[tuple[object, ...], list[_Container]] = {}
        self._lock = threading.Condition()  # notified when a warm container is added or given up
        self._swept = False
        self._closing_registered = False
        self._starting: Counter[tuple[object, ...]] = Counter()  # warm containers being started, per shape

    @property
    def client(self) -> Any:
        """The Docker client (from the environment unless one was given)."""
        if self._client is None:
            import docker

            self._client = docker.from_env()
        return self._client

    def available(self) -> tuple[bool, str]:
        """Whether an engine answers and has the sandbox image."""
        try:
            self.client.ping()
            problem = ""
        except Exception as exc:  # noqa: BLE001 - no engine, no socket, no permission
            problem = f"no Docker engine: {exc}"
        if problem and not self._given:
            client, self._client = self._client, None
            if client is not None:
                client.close()
            # A client that failed to start (docker.from_env() asks the engine for its API
            # version) leaves its socket to the collector: finalise it now, quietly, rather than
            # as a ResourceWarning wherever the next collection happens to run.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
        if problem:
            return False, problem
        try:
            self.client.images.get(self.image)
        except Exception as exc:  # noqa: BLE001
            return False, f"sandbox image {self.image} is missing: {exc}"
        if self.runtime:
            runtimes = (self.client.info() or {}).get("Runtimes", {})
            if self.runtime not in runtimes:
                return False, f"Docker runtime {self.runtime} is not installed"
        return True, "ok"

    def container_config(self, spec: RunSpec, job_dir: Path, run_id: str) -> dict[str, Any]:
        """The keyword arguments of containers.create() for one run of the job folder job_dir."""
        from docker.types import DeviceRequest, LogConfig, Ulimit

        memory = f"{spec.memory_mb + HARNESS_OVERHEAD_MB}m"
        env = harness_env({"PYTHONPATH": JUDGE_INSIDE})
        config: dict[str, Any] = {
            "image": self.image,
            "command": [self.python, "-m", "sandbox.harness.supervisor", "--seccomp", "--wait-file",
                        f"{JOB_INSIDE}/{protocol.JOB_FILE}", "1"],
            "user": f"{self.uid}:{self.uid}",
            "environment": env,
            "working_dir": "/tmp",
            "hostname": "sandbox",
            "network_mode": "none",
            "read_only": True,
            "tmpfs": {
                "/tmp": f"rw,nosuid,nodev,size={spec.tmp_mb}m,mode=1777",
                "/dev/shm": "rw,nosuid,nodev,noexec,size=64m",
            },
            "volumes": {str(job_dir): {"bind": JOB_INSIDE, "mode": "ro"}},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap beyond the memory limit
            "pids_limit": spec.pids,
            "nano_cpus": int(spec.cpus * 1e9),
            "ulimits": [
                Ulimit(name="core", soft=0, hard=0),
                Ulimit(name="nofile", soft=256, hard=256),
                Ulimit(name="fsize", soft=spec.tmp_mb << 20, hard=spec.tmp_mb << 20),
            ],
            "ipc_mode": "private",
            # No tini: the supervisor is pid 1 (non-dumpable, reaps and kills strays), as under
            # bwrap --as-pid-1. A dumpable init of the same uid would let the student open
            # /proc/1/fd/1, the attached stdout that carries our results, and forge frames.
            "init": False,
            "log_config": LogConfig(type="none"),  # results never pass through a log driver
            "stdin_open": False,
            "tty": False,
            "detach": True,
            "labels": {"tensorjudge.run": run_id, "tensorjudge.owner": _OWNER},
        }
        if self.runtime:
            config["runtime"] = self.runtime
        if spec.gpus:
            config["device_requests"] = [
                DeviceRequest(device_ids=[str(i) for i in spec.gpus], capabilities=[["gpu"]])
            ]
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(str(i) for i in spec.gpus)
        return config

    def _key(self, spec: RunSpec) -> tuple[object, ...]:
        return (spec.memory_mb, spec.pids, spec.cpus, spec.tmp_mb, tuple(spec.gpus), str(spec.work_root))

    def _sweep(self, work_root: Path) -> None:
        """Remove the containers and job folders a dead worker process on this host left (warm
        containers outlive a process that exits without closing its backend)."""
        sweep_job_dirs(work_root)
        host = socket.gethostname()
        try:
            found = self.client.containers.list(all=True, filters={"label": "tensorjudge.owner"})
        except Exception:  # noqa: BLE001 - no engine: the run itself will say so
            return
        for c in found:
            if _orphan(str((c.labels or {}).get("tensorjudge.owner", "")), host):
                _quietly(lambda c=c: c.remove(force=True))

    def _start(self, spec: RunSpec, warm: bool = False) -> _Container:
        """Create, attach (before start, so not one byte of the channel is missed) and start a
        container whose supervisor waits for its job file in an empty job folder; a warm one
        (started ahead) with the least CPU share."""
        if not self._swept:
            self._swept = True
            self._sweep(spec.work_root)
        run_id = uuid.uuid4().hex[:12]
        job_dir = make_job_dir(spec.work_root, "run")
        try:
            config = self.container_config(spec, job_dir, run_id)
            if warm:
                config["cpu_shares"] = LOW_CPU_SHARES
            container = self.client.containers.create(**config)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        r, w = os.pipe()
        stderr = bytearray()
        try:
            # The raw socket (not the SDK's attach generator, which never closes its
            # connection) is ours to close.
            sock = self.client.api.attach_socket(
                container.id, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
            pump = threading.Thread(target=_pump, args=(sock, w, stderr), daemon=True)
            container.start()
            pump.start()
        except BaseException:
            os.close(r)
            os.close(w)
            _quietly(lambda: container.remove(force=True))
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        slot = _Container(self._key(spec), container, job_dir, r, pump, threading.Thread(), stderr, low=warm)
        # One blocking wait() in a thread: polling wait(timeout=...) makes the SDK raise a read
        # timeout each time and leak that request's socket.
        slot.waiter = threading.Thread(target=_wait_into, args=(container, slot.status), daemon=True)
        slot.waiter.start()
        return slot

    def _retire(self, slot: _Container) -> None:
        _quietly(lambda: slot.container.remove(force=True))
        slot.pump.join(timeout=5)
        os.close(slot.result_r)
        shutil.rmtree(slot.job_dir, ignore_errors=True)

    def _take(self, spec: RunSpec) -> _Container | None:
        now = time.monotonic()
        slot, old = take_warm(self._lock, self._slots, self._starting, self._key(spec),
                              lambda s: not s.waiter.is_alive() or now - s.born > WARM_MAX_IDLE_S)
        for s in old:
            self._retire(s)
        return slot

    def _refill(self, spec: RunSpec) -> None:
        """Start warm containers for this shape of run in the background, up to `warm`."""
        if not self.warm:
            return
        with self._lock:
            if not self._closing_registered:
                self._closing_registered = True
                atexit.register(self.close)  # warm containers do not die with us by themselves

        def fill() -> None:
            key = self._key(spec)
            with self._lock:
                if len(self._slots.get(key, [])) + self._starting[key] >= self.warm:
                    return
                self._starting[key] += 1
            slot: _Container | None = None
            try:
                slot = self._start(spec, warm=True)
            except Exception:  # noqa: BLE001 - the next run starts one itself
                pass
            for old in shelve(self._lock, self._slots, self._starting, key, slot, WARM_SHAPES * self.warm):
                self._retire(old)

        threading.Thread(target=fill, name="warm-container", daemon=True).start()

    def waiting(self) -> list[tuple[str, Path]]:
        """(container id, job folder) of every warm container not handed a run yet; waits
        for those being started to be ready first."""
        wait_for_starts(self._starting)
        with self._lock:
            return [(s.container.id, s.job_dir) for group in self._slots.values() for s in group]

    def close(self) -> None:
        """Remove every warm container."""
        wait_for_starts(self._starting)  # a container being started now is removed too, once up
        with self._lock:
            slots = [s for group in self._slots.values() for s in group]
            self._slots.clear()
        for slot in slots:
            self._retire(slot)

    def run(self, spec: RunSpec) -> RunResult:
        """Hand the run to a started container (a warm one, else one started now), read results
        from its stdout, kill it at the wall-clock limit (counted from the hand-over), remove
        it and the job folder."""
        # The supervisor is pid 1 of its own pid namespace, and installs our syscall filter (the
        # process backend's, via bwrap) on top of the engine's default profile itself.
        job = replace(spec.job, workdir="/tmp", isolated=True, install_seccomp=True)
        return self._run(spec, job)

    def _run(self, spec: RunSpec, job: Job) -> RunResult:
        slot = self._take(spec)
        if slot is not None:
            self.warm_hits += 1
            if slot.low:  # a run's now: the normal share, import done or not
                _quietly(lambda: slot.container.update(cpu_shares=CPU_SHARES))
        else:
            slot = self._start(spec)
        self._refill(spec)
        try:
            fill_job_dir(slot.job_dir, spec, job)
            return self._watch(spec, slot)
        finally:
            _quietly(lambda: slot.container.remove(force=True))
            shutil.rmtree(slot.job_dir, ignore_errors=True)

    def _watch(self, spec: RunSpec, slot: _Container) -> RunResult:
        start = time.monotonic()
        container = slot.container
        reader = ResultReader(slot.result_r, spec.output_bytes + (4 << 20), spec.on_message,
                              _cpu_clock(container))
        killed: Ending | None = None
        reader.start()
        deadline = start + spec.wall_time_s
        while slot.waiter.is_alive():
            slot.waiter.join(timeout=0.1)
            if not slot.waiter.is_alive():
                break
            if reader.over_budget:
                killed = Ending.RUN_OUTPUT
            elif time.monotonic() > deadline:
                killed = Ending.RUN_WALL
            if killed:
                _quietly(container.kill)
                slot.waiter.join(timeout=30)
                break
        exit_code = int(slot.status.get("StatusCode", -1))
        slot.pump.join(timeout=5)
        reader.join(timeout=5)
        _quietly(container.reload)
        oom = bool((container.attrs or {}).get("State", {}).get("OOMKilled"))
        return reader.result(
            exit_code=exit_code, wall_s=time.monotonic() - start, stopped=killed,
            stderr_tail=bytes(slot.stderr[-STDERR_KEEP:]).decode("utf-8", "replace"), oom_killed=oom,
        )


def _cpu_clock(container: Any) -> Callable[[], int | None] | None:
    """The container's cgroup CPU usage, where this worker shares the engine's pid and cgroup
    view (a worker on the host); None elsewhere (then timed CPU cases use wall time)."""
    try:
        container.reload()
        pid = int((container.attrs or {}).get("State", {}).get("Pid") or 0)
    except Exception:  # noqa: BLE001 - the engine's answer is only a hint here
        return None
    return cgroups.cpu_usage_of(pid) if pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphan(owner: str, host: str) -> bool:
    """Whether a container's owner label names a process of this host that is gone: its pid is
    dead, or now belongs to a process started at another time (older labels carry no start
    time and go by the pid alone)."""
    parts = owner.split(":")
    if len(parts) == 2:
        parts.append("")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid, started = int(parts[1]), parts[2]
    if not _alive(pid):
        return True
    return bool(started) and _started(pid) != started


def _wait_into(container: Any, status: dict[str, Any]) -> None:
    """Block until the container exits; its status lands in `status` (empty if the call died)."""
    try:
        status.update(container.wait())
    except Exception:  # noqa: BLE001 - engine gone: exit code stays unknown (-1)
        pass


def _pump(sock: Any, w: int, stderr: bytearray) -> None:
    """Copy the container's stdout frames into the result pipe, keep a tail of its stderr."""
    from docker.utils.socket import STDERR, STDOUT, frames_iter

    try:
        for stream_id, data in frames_iter(sock, tty=False):
            if stream_id == STDOUT and data:
                try:
                    _write_all(w, data)
                except OSError:
                    return  # the reader stopped (over budget): drop the rest
            elif stream_id == STDERR and data:
                stderr += data
                if len(stderr) > 2 * STDERR_KEEP:
                    del stderr[: len(stderr) - STDERR_KEEP]
    except Exception:  # noqa: BLE001 - the connection dies with the container
        pass
    finally:
        inner = getattr(sock, "_sock", None)  # a SocketIO over the unix socket: close that too
        _quietly(sock.close)  # (SocketIO.close() forgets its socket without closing it)
        if inner is not None:
            _quietly(inner.close)
        os.close(w)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass
