"""What every backend shares: the run spec, the run result and the result-channel reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox import protocol

HARNESS_ROOT = Path(__file__).resolve().parent.parent.parent  # the folder that holds sandbox/


@dataclass
class RunSpec:
    """One harness run: a job directory holding job.json, driver.py and submission/."""

    job_dir: Path
    wall_time_s: float
    memory_mb: int
    output_bytes: int
    stdout_bytes: int = 64 << 10
    pids: int = 256
    tmp_mb: int = 256
    cpus: float = 1.0
    gpus: list[int] = field(default_factory=list)
    on_message: Callable[[dict[str, Any]], None] | None = None


@dataclass
class RunResult:
    """What came back: result-channel messages (with tensor blobs attached), how it ended."""

    messages: list[dict[str, Any]]
    blobs: dict[str, bytes]
    exit_code: int | None
    wall_s: float
    killed: str | None = None  # "wall" | "output" | None
    protocol_error: str | None = None
    stderr_tail: str = ""
    oom_killed: bool = False


class Backend(Protocol):
    """A way to run the harness in isolation."""

    name: str

    def run(self, spec: RunSpec) -> RunResult:
        """Run the harness on spec.job_dir and collect its results."""
        ...


class ResultReader(threading.Thread):
    """Reads the result channel while the run goes on, within a byte budget."""

    def __init__(self, fd: int, max_bytes: int, on_message: Callable[[dict[str, Any]], None] | None):
        super().__init__(daemon=True)
        self.fd = fd
        self.budget = max_bytes
        self.on_message = on_message
        self.messages: list[dict[str, Any]] = []
        self.blobs: dict[str, bytes] = {}
        self.error: str | None = None
        self.over_budget = False

    def run(self) -> None:
        last: dict[str, Any] | None = None
        try:
            while True:
                frame = protocol.read_frame(self.fd, max(self.budget, 0))
                if frame is None:
                    return
                kind, payload = frame
                self.budget -= len(payload)
                if self.budget < 0:
                    self.over_budget = True
                    return
                if kind == protocol.JSON:
                    msg = json.loads(payload)
                    if not isinstance(msg, dict):
                        raise protocol.ProtocolError("a result message is not an object")
                    # When it arrived, by our clock: the pipeline checks in-sandbox timings with it.
                    msg["_recv_ns"] = time.monotonic_ns()
                    self.messages.append(msg)
                    last = msg
                    if self.on_message is not None:
                        self.on_message(msg)
                elif last is not None and last.get("type") == "case_result":
                    self.blobs[str(last.get("case"))] = payload
        except protocol.ProtocolError as exc:
            if "over the cap" in str(exc):
                self.over_budget = True
            self.error = str(exc)
        except (ValueError, OSError) as exc:
            self.error = f"unreadable result channel: {exc}"
        finally:
            os.close(self.fd)


def harness_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment the harness sees: nothing from ours, so no secret leaks in."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.update(extra or {})
    return env


def run_with_channel(
    build_argv: Callable[[int], list[str]],
    spec: RunSpec,
    *,
    env: dict[str, str],
    preexec: Callable[[], None] | None = None,
    after_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    extra_fds: tuple[int, ...] = (),
) -> RunResult:
    """Start build_argv(fd) with the write end of a result pipe inherited as `fd`; enforce the
    wall time and the output cap. The process gets its own session and the whole group is
    killed at the deadline."""
    r, w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    reader = ResultReader(r, spec.output_bytes + (4 << 20), spec.on_message)
    start = time.monotonic()

    proc = subprocess.Popen(
        build_argv(w),
        stdin=subprocess.DEVNULL,
        stdout=stderr_w,
        stderr=stderr_w,
        env=env,
        pass_fds=(w, *extra_fds),
        start_new_session=True,
        preexec_fn=preexec,
        close_fds=True,
    )
    os.close(w)
    os.close(stderr_w)
    if after_start is not None:
        after_start(proc)
    reader.start()
    tail = _TailReader(stderr_r, 64 << 10)
    tail.start()
    killed: str | None = None
    deadline = start + spec.wall_time_s
    while True:
        try:
            proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            pass
        if reader.over_budget:
            killed = "output"
        elif time.monotonic() > deadline:
            killed = "wall"
        if killed:
            _killpg(proc)
            proc.wait()
            break
    reader.join(timeout=5)
    tail.join(timeout=2)
    if reader.over_budget and not killed:
        killed = "output"
    return RunResult(
        messages=reader.messages,
        blobs=reader.blobs,
        exit_code=proc.returncode,
        wall_s=time.monotonic() - start,
        killed=killed,
        protocol_error=reader.error,
        stderr_tail=tail.text(),
    )


class _TailReader(threading.Thread):
    def __init__(self, fd: int, keep: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.keep = fd, keep
        self.buf = bytearray()

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 1 << 16):
                self.buf += chunk
                if len(self.buf) > 2 * self.keep:
                    del self.buf[: len(self.buf) - self.keep]
        finally:
            os.close(self.fd)

    def text(self) -> str:
        return bytes(self.buf[-self.keep :]).decode("utf-8", "replace")


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass


def python_executable() -> str:
    """The interpreter of the environment TensorJudge runs in (the harness uses the same)."""
    return sys.executable
