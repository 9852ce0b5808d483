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
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from sandbox import protocol
from sandbox.backends.base import ResultReader, RunResult, RunSpec, harness_env, write_job
from sandbox.protocol import Ending

JOB_INSIDE = "/job"
JUDGE_INSIDE = "/judge"
HARNESS_OVERHEAD_MB = 768
STDERR_KEEP = 64 << 10


class DockerSandbox:
    """One container per run, through the Docker SDK (`client` is injectable for tests)."""

    name = "docker"

    def __init__(self, image: str, runtime: str | None = None, client: Any = None,
                 uid: int = 65534, python: str = "/opt/venv/bin/python") -> None:
        self.image = image
        self.runtime = runtime
        self.uid = uid
        self.python = python
        self._client = client

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
        except Exception as exc:  # noqa: BLE001 - no engine, no socket, no permission
            return False, f"no Docker engine: {exc}"
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
            "command": [self.python, "-m", "sandbox.harness.supervisor",
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
            "labels": {"tensorjudge.run": run_id},
        }
        if self.runtime:
            config["runtime"] = self.runtime
        if spec.gpus:
            config["device_requests"] = [
                DeviceRequest(device_ids=[str(i) for i in spec.gpus], capabilities=[["gpu"]])
            ]
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(str(i) for i in spec.gpus)
        return config

    def run(self, spec: RunSpec) -> RunResult:
        """Lay out the job, create, attach, start; read results from stdout; kill at the wall-clock
        limit; remove the container and the job folder."""
        run_id = uuid.uuid4().hex[:12]
        # The supervisor is pid 1 of its own pid namespace, and installs our syscall filter (the
        # process backend's, via bwrap) on top of the engine's default profile itself.
        job = replace(spec.job, workdir="/tmp", isolated=True, install_seccomp=True)
        job_dir = write_job(spec, job, spec.work_root)
        try:
            return self._run(spec, job_dir, run_id)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    def _run(self, spec: RunSpec, job_dir: Path, run_id: str) -> RunResult:
        container = self.client.containers.create(**self.container_config(spec, job_dir, run_id))
        start = time.monotonic()
        r, w = os.pipe()
        reader = ResultReader(r, spec.output_bytes + (4 << 20), spec.on_message)
        stderr = bytearray()
        killed: Ending | None = None
        exit_code: int | None = None
        oom = False
        try:
            # Attached before start, so not one byte of the channel is missed. The raw socket
            # (not the SDK's attach generator, which never closes its connection) is ours to
            # close.
            sock = self.client.api.attach_socket(
                container.id, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
            pump = threading.Thread(target=_pump, args=(sock, w, stderr), daemon=True)
            container.start()
            pump.start()
            reader.start()
            deadline = start + spec.wall_time_s
            # One blocking wait() in a thread: polling wait(timeout=...) makes the SDK raise
            # a read timeout each time and leak that request's socket.
            status: dict[str, Any] = {}
            waiter = threading.Thread(target=_wait_into, args=(container, status), daemon=True)
            waiter.start()
            while waiter.is_alive():
                waiter.join(timeout=0.1)
                if not waiter.is_alive():
                    break
                if reader.over_budget:
                    killed = Ending.RUN_OUTPUT
                elif time.monotonic() > deadline:
                    killed = Ending.RUN_WALL
                if killed:
                    _quietly(container.kill)
                    waiter.join(timeout=30)
                    break
            exit_code = int(status.get("StatusCode", -1))
            pump.join(timeout=5)
            reader.join(timeout=5)
            _quietly(container.reload)
            oom = bool((container.attrs or {}).get("State", {}).get("OOMKilled"))
        finally:
            _quietly(lambda: container.remove(force=True))
        return reader.result(
            exit_code=exit_code, wall_s=time.monotonic() - start, stopped=killed,
            stderr_tail=bytes(stderr[-STDERR_KEEP:]).decode("utf-8", "replace"), oom_killed=oom,
        )


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
