"""What every backend shares: the run spec, the run result, the Backend protocol, the job
folder's writer and the result-channel reader."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from sandbox import protocol
from sandbox.framing import wide_pipe
from sandbox.protocol import CaseResult, Ending, Event, Job

log = logging.getLogger(__name__)
HARNESS_ROOT = Path(__file__).resolve().parent.parent.parent  # the folder that holds sandbox/


@dataclass
class RunSpec:
    """One harness run: the job, the files it needs, and the limits of the whole run.

    The backend lays the job out (job file, driver, submission) in a folder of its own under
    `work_root`, shows it to the harness wherever it likes, and removes it after the run.
    """

    job: Job
    driver: bytes  # the problem's driver.py
    files: dict[str, bytes]  # the submission (or the reference), by relative path
    work_root: Path
    wall_time_s: float
    memory_mb: int
    output_bytes: int  # the result channel's budget for tensors (JSON has its own cap)
    pids: int = 256
    tmp_mb: int = 256
    cpus: float = 1.0
    gpus: list[int] = field(default_factory=list)
    # Called with each message as it arrives: events, and each case's result once complete.
    on_message: Callable[[Event | CaseResult], None] | None = None


@dataclass
class RunResult:
    """What came back: each case's result (with its own tensors) and how the run ended."""

    cases: dict[str, CaseResult]
    windows_ns: dict[str, tuple[int, int]]  # timed cases: when their marks arrived, our clock
    started: bool  # the supervisor said hello
    exit_code: int | None
    wall_s: float
    stopped: Ending | None = None  # Ending.RUN_WALL | Ending.RUN_OUTPUT: we stopped the run
    protocol_error: str | None = None
    stderr_tail: str = ""
    oom_killed: bool = False
    # timed cases: the run's cgroup CPU usage (ns) when their marks arrived; empty where the
    # backend cannot read it (then a timed CPU case is judged by wall time)
    cpu_windows_ns: dict[str, tuple[int, int]] = field(default_factory=dict)

    def outcome(self, name: str) -> CaseResult:
        """How the case ended, settled with what only the outside knows (the run's kills)."""
        result = self.cases.get(name)
        if result is not None:
            if result.ending is Ending.SIGNALED and result.signal == signal.SIGKILL and self.oom_killed:
                return dataclasses.replace(result, ending=Ending.MEMORY_KILLED)
            return result
        if self.stopped is not None:
            return CaseResult(case=name, ending=self.stopped)
        return CaseResult(case=name, ending=Ending.RUN_OOM if self.oom_killed else Ending.RUN_LOST)


class Backend(Protocol):
    """A way to run the harness in isolation (the process sandbox, docker)."""

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether this backend can run here, and if not, why."""
        ...

    def run(self, spec: RunSpec) -> RunResult:
        """Lay out spec's job, run the harness on it, collect its results, clean up."""
        ...


def write_job(spec: RunSpec, job: Job, parent: Path) -> Path:
    """A fresh job folder under parent: the job file, the driver and the submission, readable
    by any uid (the sandbox's is not ours), in the layout `sandbox.protocol` names."""
    job_dir = make_job_dir(parent, job.mode)
    fill_job_dir(job_dir, spec, job)
    return job_dir


OWNER = f"{socket.gethostname().replace('-', '_')}-{os.getpid()}"  # this worker process, in names


class _Warm(Protocol):
    key: tuple[object, ...]
    born: float


W = TypeVar("W", bound=_Warm)


def oldest_beyond(slots: dict[tuple[object, ...], list[W]], cap: int) -> list[W]:
    """Take the oldest warm sandboxes out of `slots` until at most `cap` remain in all (the
    caller retires them): runs of many shapes must not pile up idle sandboxes."""
    every = sorted((s for group in slots.values() for s in group), key=lambda s: s.born)
    spare = every[: max(0, len(every) - cap)]
    for s in spare:
        slots[s.key].remove(s)
    return spare


WARM_WAIT_S = 10.0  # a run waits at most this long for a warm sandbox of its shape being started


def take_warm(lock: threading.Condition, slots: dict[tuple[object, ...], list[W]],
              starting: dict[tuple[object, ...], int], key: tuple[object, ...],
              stale: Callable[[W], bool], wait_s: float = WARM_WAIT_S) -> tuple[W | None, list[W]]:
    """Take a ready warm sandbox of this shape out of `slots`. If none is ready but one of this
    shape is being started, wait for it, up to wait_s: it is further along than a cold start
    would be, and a cold start beside it would only take the CPU its import needs (on a busy
    worker, a container launch takes a moment). Returns the sandbox, or None (start one now),
    and the stale ones found on the way (the caller retires them). The warm-starting side ends
    each start with shelve(), which notifies `lock`."""
    deadline = time.monotonic() + wait_s
    old: list[W] = []
    with lock:
        while True:
            group = slots.get(key, [])
            old += [s for s in group if stale(s)]
            ready = [s for s in group if s not in old]
            slots[key] = ready
            if ready:
                return ready.pop(0), old
            left = deadline - time.monotonic()
            if starting.get(key, 0) <= 0 or left <= 0:
                return None, old
            lock.wait(left)


def shelve(lock: threading.Condition, slots: dict[tuple[object, ...], list[W]],
           starting: dict[tuple[object, ...], int], key: tuple[object, ...], slot: W | None,
           cap: int) -> list[W]:
    """End a warm start of this shape: `slot` (None when it failed) goes on the shelf and the
    shape is no longer counted as starting, both at once under `lock`, so that a run waiting in
    take_warm() sees one or the other. Returns the oldest sandboxes beyond `cap` in all (the
    caller retires them)."""
    with lock:
        starting[key] -= 1
        spare: list[W] = []
        if slot is not None:
            slots.setdefault(key, []).append(slot)
            spare = oldest_beyond(slots, cap)
        lock.notify_all()
    return spare


def wait_for_starts(*starting: dict[tuple[object, ...], int], timeout_s: float = 30.0) -> None:
    """Wait, at most timeout_s, until no warm sandbox of any shape is being started (each
    argument counts starts per shape): then every one started is on its shelf."""
    deadline = time.monotonic() + timeout_s
    while any(any(c.values()) for c in starting) and time.monotonic() < deadline:
        time.sleep(0.02)


def make_job_dir(parent: Path, label: str) -> Path:
    """An empty job folder under parent that any uid may read, named after its owner (this
    process) so that a later start can reclaim the folders of a worker that was killed."""
    parent.mkdir(parents=True, exist_ok=True)
    job_dir = Path(tempfile.mkdtemp(prefix=f"tj-{label}-{OWNER}-", dir=parent))
    os.chmod(job_dir, 0o755)
    return job_dir


def owner_dead(name: str) -> bool:
    """Whether a name that starts with `<host>-<pid>-` (job folders, run cgroups) belongs to a
    process of this host that is gone. Other hosts' and unparsable names are left alone."""
    host, _, rest = name.partition("-")
    pid = rest.partition("-")[0]
    if host != socket.gethostname().replace("-", "_") or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep_job_dirs(parent: Path) -> int:
    """Remove the job folders under parent left by dead worker processes of this host."""
    count = 0
    try:
        entries = list(parent.iterdir())
    except OSError:
        return 0
    for d in entries:
        label_and_owner = d.name.split("-", 2)[-1] if d.name.startswith("tj-") else ""
        if d.is_dir() and label_and_owner and owner_dead(label_and_owner):
            shutil.rmtree(d, ignore_errors=True)
            count += 1
    return count


def fill_job_dir(job_dir: Path, spec: RunSpec, job: Job) -> None:
    """The job file, the driver and the submission, into an (empty) job folder."""
    sub = job_dir / job.submission_dir
    sub.mkdir()
    for rel, data in spec.files.items():
        target = sub / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (job_dir / job.driver).write_bytes(spec.driver)
    for path in job_dir.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    # The job file last: a supervisor waiting for it sees a complete folder.
    tmp = job_dir / (protocol.JOB_FILE + ".part")
    tmp.write_bytes(job.encode())
    os.chmod(tmp, 0o644)
    tmp.replace(job_dir / protocol.JOB_FILE)


class ResultReader(threading.Thread):
    """Reads and decodes the result channel while the run goes on, within a byte budget."""

    def __init__(self, fd: int, max_bytes: int,
                 on_message: Callable[[Event | CaseResult], None] | None,
                 cpu_clock: Callable[[], int | None] | None = None):
        super().__init__(daemon=True)
        self.fd = fd
        self.budget = max_bytes
        self.on_message = on_message
        self.cpu_clock = cpu_clock  # the run's CPU usage so far (its cgroup's), if readable
        self.cases: dict[str, CaseResult] = {}
        self.marks: dict[tuple[str, str], int] = {}
        self.cpu_marks: dict[tuple[str, str], int] = {}
        self.started = False
        self.error: str | None = None
        self.over_budget = False

    def run(self) -> None:
        pending: CaseResult | None = None  # a result whose tensor frame is still to come
        try:
            while True:
                frame = protocol.read_frame(self.fd, max(self.budget, 0))
                if frame is None:
                    if pending is not None:
                        raise protocol.ProtocolError("the stream ended before a result's tensors")
                    return
                kind, payload = frame
                self.budget -= len(payload)
                if self.budget < 0:
                    self.over_budget = True
                    return
                if kind == protocol.TENSORS:
                    if pending is None:
                        raise protocol.ProtocolError("a tensor frame that no result announced")
                    pending.tensors = payload
                    self._finish(pending)
                    pending = None
                    continue
                if pending is not None:
                    raise protocol.ProtocolError("a result's tensor frame is missing")
                msg = protocol.decode_supervisor_message(payload)
                if isinstance(msg, Event):
                    self._event(msg)
                else:
                    result, announced = msg
                    if announced:
                        pending = result
                    else:
                        self._finish(result)
        except protocol.FrameTooLarge:
            self.over_budget = True
        except protocol.ProtocolError as exc:
            self.error = str(exc)
        except OSError as exc:
            self.error = f"unreadable result channel: {exc}"
        finally:
            os.close(self.fd)

    def _tell(self, msg: Event | CaseResult) -> None:
        """The caller's callback (progress reports): its failure must never cost a result."""
        if self.on_message is None:
            return
        try:
            self.on_message(msg)
        except Exception:  # logged; the run's results are what matters
            log.warning("the result channel's callback failed", exc_info=True)

    def _event(self, event: Event) -> None:
        self._tell(event)
        if event.kind == "hello":
            self.started = True
        elif event.kind == "timing_mark":
            # When it arrived, by our clock: the pipeline checks in-sandbox timings with it.
            self.marks[(event.case, event.mark)] = time.monotonic_ns()
            cpu = self.cpu_clock() if self.cpu_clock is not None else None
            if cpu is not None:
                self.cpu_marks[(event.case, event.mark)] = cpu

    def _finish(self, result: CaseResult) -> None:
        self.cases[result.case] = result
        self._tell(result)

    def windows(self, cpu: bool = False) -> dict[str, tuple[int, int]]:
        """Each timed case's (start, end) at its marks' arrival, where both arrived in order:
        our clock, or (cpu) the run's CPU usage."""
        marks = self.cpu_marks if cpu else self.marks
        out: dict[str, tuple[int, int]] = {}
        for (case, mark), start in marks.items():
            end = marks.get((case, "end"))
            if mark == "start" and end is not None and end >= start:
                out[case] = (start, end)
        return out

    def result(self, *, exit_code: int | None, wall_s: float, stopped: Ending | None,
               stderr_tail: str, oom_killed: bool = False) -> RunResult:
        """The run's result, once the reader is done."""
        if self.over_budget and stopped is None:
            stopped = Ending.RUN_OUTPUT
        return RunResult(cases=self.cases, windows_ns=self.windows(), started=self.started,
                         exit_code=exit_code, wall_s=wall_s, stopped=stopped,
                         protocol_error=self.error, stderr_tail=stderr_tail, oom_killed=oom_killed,
                         cpu_windows_ns=self.windows(cpu=True))


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
        # CUDA kernels load when first used, not all at context creation (seconds, and GPU
        # memory, for a case that calls a handful of them). Ignored by CPU builds.
        "CUDA_MODULE_LOADING": "LAZY",
        # glibc's malloc keeps what a case frees for its next allocation (blocks up to 32 MiB
        # from the heap, not mmap; the heap's free top kept up to 1 GiB) instead of handing it
        # back to the kernel and faulting it in again: a timed repeat then costs its compute,
        # not page faults (measured here: a float64 repeat took 12 ms without these settings,
        # 3.5-5 ms with them). The run's cgroup still counts, and limits, every byte kept.
        "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
        "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    }
    env.update(extra or {})
    return env


@dataclass
class Started:
    """A harness process started with the write end of a result pipe; its stderr is being read."""

    proc: subprocess.Popen[bytes]
    result_r: int  # the read end of the result channel, read once the run is handed a job
    tail: TailReader


def start_with_channel(
    build_argv: Callable[[int], list[str]],
    *,
    env: dict[str, str],
    preexec: Callable[[], None] | None = None,
    extra_fds: tuple[int, ...] = (),
    stdin_pipe: bool = False,
) -> Started:
    """Start build_argv(fd) with the write end of a result pipe inherited as `fd`, in its own
    session; with `stdin_pipe`, its stdin is a pipe we hold (a warm supervisor waits on it)."""
    r, w = wide_pipe()
    stderr_r, stderr_w = os.pipe()
    try:
        proc = subprocess.Popen(
            build_argv(w),
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=stderr_w,
            stderr=stderr_w,
            env=env,
            pass_fds=(w, *extra_fds),
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
    except BaseException:
        for fd in (r, w, stderr_r, stderr_w):
            os.close(fd)
        raise
    os.close(w)
    os.close(stderr_w)
    tail = TailReader(stderr_r, 64 << 10)
    tail.start()
    return Started(proc, r, tail)


class Waitable(Protocol):
    """What watch_run() needs of the process that runs the harness (a Popen fits)."""

    returncode: int | None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code, waiting at most timeout (subprocess.TimeoutExpired after that)."""
        ...


def watch(started: Started, spec: RunSpec, cpu_clock: Callable[[], int | None] | None = None) -> RunResult:
    """Read the result channel of a started run, enforcing the wall time and the output cap
    from now; the whole process group is killed at the deadline. `cpu_clock`: the run's CPU
    usage so far (its cgroup's), read at each timing mark."""
    return watch_run(started.proc, started.result_r, started.tail, spec, lambda: _killpg(started.proc),
                     cpu_clock)


def watch_run(proc: Waitable, result_r: int, tail: TailReader, spec: RunSpec,
              kill: Callable[[], object], cpu_clock: Callable[[], int | None] | None = None) -> RunResult:
    """watch(), for any harness process: `kill` stops everything of the run at the deadline."""
    reader = ResultReader(result_r, spec.output_bytes + (4 << 20), spec.on_message, cpu_clock)
    start = time.monotonic()
    reader.start()
    stopped: Ending | None = None
    deadline = start + spec.wall_time_s
    while True:
        # The channel closes when the supervisor is done, a moment before the process exits:
        # waiting on it first ends the run then, not at the next 50 ms poll of the process.
        reader.join(timeout=0.05)
        try:
            proc.wait(timeout=0.05 if not reader.is_alive() else 0)
            break
        except subprocess.TimeoutExpired:
            pass
        if reader.over_budget:
            stopped = Ending.RUN_OUTPUT
        elif time.monotonic() > deadline:
            stopped = Ending.RUN_WALL
        if stopped:
            kill()
            proc.wait()
            break
    reader.join(timeout=5)
    tail.join(timeout=2)
    return reader.result(exit_code=proc.returncode, wall_s=time.monotonic() - start,
                         stopped=stopped, stderr_tail=tail.text())


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
    started = start_with_channel(build_argv, env=env, preexec=preexec, extra_fds=extra_fds)
    if after_start is not None:
        after_start(started.proc)
    return watch(started, spec)


class TailReader(threading.Thread):
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
