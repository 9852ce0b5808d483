"""The trusted half of the harness: `python -m sandbox.harness.supervisor JOB.json RESULT_FD`.

It forks a case child (which runs the student's code) and hands it the job's cases one after
another, each with pipes of its own sent over a control socket; it relays the child's result
to the result channel, which the child cannot reach (it is closed in the child and this
process is made non-dumpable, so /proc/<pid>/fd is out of reach too), and times the child
from here with its own clock, so patched clocks inside the child change nothing.

One case child serves a whole run (a submission's cases, all from one submission), as the
course's own grader runs every test in one process: forking a process that has torch loaded
costs tens of milliseconds, and a CUDA context must not be created per case. Each case still
starts from fresh modules (the child forgets the submission's modules and re-imports them).
A case that does not end cleanly (killed, timed out, a protocol error, a rule violation, out
of memory, a child that does not go quiet after its result) retires the child, and the next
case gets a freshly forked one, so nothing a crashed case left behind reaches the next.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from sandbox import framing, protocol
from sandbox.protocol import CaseResult, CaseSpec, ChildResult, Ending, Job, TimingSample

PR_SET_DUMPABLE = 4
# Endings after which the case child may take the next case: it reported the case itself and is
# in a known state. Anything else (a kill, a rule violation, running out of memory) retires it.
_REUSABLE = frozenset({Ending.OK, Ending.WRONG, Ending.ERROR, Ending.COMPILE_ERROR})
# A warm container waits this long at most for its job (see _wait_for_file).
ORPHAN_WAIT_S = 1200.0
# After its result, the child has this long to forget the case and close the case's pipe.
CASE_SETTLE_S = 2.0


@dataclass
class _Runner:
    """The forked case child and the supervisor's end of its control socket."""

    pid: int
    ctl: socket.socket
    device: str


def _case_over(msg_r: int, pid: int) -> bool:
    """Whether the child closed the case's message pipe (its sign that it has forgotten the case
    and waits for the next) with nothing more on it, and is still alive."""
    end = time.monotonic() + CASE_SETTLE_S
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([msg_r], [], [], left)[0]:
            return False
        try:
            if os.read(msg_r, 1 << 16):
                return False  # more than the protocol allows: do not trust this process again
        except OSError:
            return False
        return _poll(pid)[0] == 0


def _non_dumpable() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except OSError:
        pass


class _OutputDrain(threading.Thread):
    """Reads the child's stdout+stderr, keeping the first `keep` bytes and counting the rest."""

    def __init__(self, fd: int, keep: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.keep = fd, keep
        self.data = bytearray()
        self.total = 0

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.total += len(chunk)
            room = self.keep - len(self.data)
            if room > 0:
                self.data += chunk[:room]


class Supervisor:
    """Runs every case of a job and writes framed results to the result fd."""

    def __init__(self, job: Job, root: Path, result_fd: int) -> None:
        self.job = job
        self.root = root  # the job folder: the job's relative paths start here
        self.result_fd = result_fd
        self.current_case = ""
        self.runner: _Runner | None = None

    def emit(self, obj: dict[str, object]) -> None:
        """One JSON frame on the result channel."""
        protocol.write_all(self.result_fd, protocol.encode_json(obj))

    def emit_result(self, result: CaseResult) -> None:
        """A case result, and the tensor frame that belongs to it right after."""
        framing.write_parts(self.result_fd, *result.frames())

    def run(self) -> None:
        """Every case in order, framed by hello and done."""
        self.emit({"type": "hello", "pid": os.getpid()})
        try:
            for case in self.job.cases:
                self.emit({"type": "case_start", "case": case.name})
                self.emit_result(self.run_case(case))
        finally:
            self.retire()
        self.emit({"type": "done"})

    def run_case(self, case: CaseSpec) -> CaseResult:
        """Hand one case to the case child (forked afresh when there is none), watch it, and say
        how the case ended."""
        limits = self.job.limits
        self.current_case = case.name
        msg_r, msg_w = framing.wide_pipe()
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        runner = self._runner_for(case, (msg_w, go_r, out_w))
        for fd in (msg_w, go_r, out_w):
            os.close(fd)
        pid = runner.pid if runner is not None else -1
        drain = _OutputDrain(out_r, limits.stdout_bytes)
        drain.start()
        deadline = time.monotonic() + limits.case_time_s
        killed: Ending | None = None

        def watchdog() -> None:
            nonlocal killed
            while time.monotonic() < deadline:
                if stop.wait(0.05):
                    return
                if drain.total > limits.stdout_kill_bytes:
                    killed = Ending.OUTPUT_FLOOD
                    break
            else:
                killed = killed or Ending.CASE_TIMEOUT
            _kill_group(pid)
            aborted.set()

        stop = threading.Event()
        aborted = threading.Event()

        reaped: list[int] = []

        def wait(fd: int) -> None:
            # A grandchild may hold the pipe open after the child is gone: don't wait on it.
            while not select.select([fd], [], [], 0.05)[0]:
                if aborted.is_set():
                    raise protocol.ProtocolError("the case was stopped")
                if not reaped:
                    done, status = _poll(pid)
                    if done:
                        reaped.append(status)
                elif not select.select([fd], [], [], 0.05)[0]:
                    raise protocol.ProtocolError("the child exited without a complete result")

        dog = threading.Thread(target=watchdog, daemon=True)
        dog.start()
        child: ChildResult | None = None
        tensors: bytes | bytearray | None = None
        timing: TimingSample | None = None
        error: str | None = None
        try:
            if runner is None:
                raise protocol.ProtocolError("the case child could not be started")
            child = self.read_result(msg_r, wait)
            if child is not None and child.tensors:
                tensors = self.read_tensors(msg_r, wait)
                if case.timed:
                    timed = self.time_child(msg_r, go_w, wait, pid)
                    if isinstance(timed, str):  # broke a rule while being timed
                        child = ChildResult(case=child.case, ending=Ending.RULE_VIOLATION,
                                            message=timed, graded=child.graded, notes=child.notes)
                        tensors = None
                    else:
                        timing = timed
        except protocol.ProtocolError as exc:
            error, tensors, timing = str(exc), None, None
        finally:
            _close(go_w)
            # The case's outcome is settled: from here on nothing the child does changes it.
            stop.set()
            dog.join()
            clean = (runner is not None and killed is None and error is None and not reaped
                     and child is not None and child.ending in _REUSABLE)
            # After the run's last case the child is retired at once: waiting for it to forget
            # the case (a collection, freeing the case's tensors) would only delay the verdict.
            last = case is self.job.cases[-1]
            keep = clean and not last and _case_over(msg_r, pid)
            status = 0
            ours = False
            if not keep:
                if not reaped and pid > 0:
                    done, early = _poll(pid)
                    if done:
                        reaped.append(early)
                ours = not reaped  # still alive: it dies by our hand
                if pid > 0:
                    _kill_group(pid)
                    status = reaped[0] if reaped else _reap(pid)
                self.runner = None
            strays = kill_strays(keep=pid if keep else None) if self.job.isolated else None
            drain.join(timeout=2)
            _close(msg_r)
            _close(out_r)
        settled = keep or (clean and last)  # a kill of ours after a clean result says nothing
        sig = None if settled else (os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)
        code = None if settled or sig is not None else (
            os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1)
        # After a protocol error, a SIGKILL of ours says nothing about the child: the error does.
        ending, message = _ending(killed, child, error, None if ours and error else sig)
        return CaseResult(
            case=case.name, ending=ending, message=message, child=child,
            timing=timing if ending is Ending.OK else None, signal=sig, exit_code=code,
            stdout=drain.data.decode("utf-8", "replace"), stdout_total_bytes=drain.total,
            strays_killed=strays, tensors=tensors if ending is Ending.OK else None,
        )

    def _runner_for(self, case: CaseSpec, fds: tuple[int, int, int]) -> _Runner | None:
        """The case child that takes this case (its pipes sent over the control socket): the
        current one when it is alive and runs cases on this device, else a freshly forked one."""
        index = next(i for i, c in enumerate(self.job.cases) if c is case)
        for fresh in (False, True):
            runner = self.runner
            if fresh or runner is None or runner.device != case.device:
                self.retire()
                runner = self.runner = self._fork_runner(case.device)
            try:
                socket.send_fds(runner.ctl, [str(index).encode()], list(fds))
                return runner
            except OSError:  # it died between cases (a leak check, a stray signal): fork again
                continue
        return None

    def _fork_runner(self, device: str) -> _Runner:
        """Fork the process that runs this submission's cases, one after another."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: untrusted from the moment the submission is imported
            try:
                ours.detach()
                ctl = theirs.detach()
                quiet = os.open(os.devnull, os.O_WRONLY)
                os.dup2(quiet, 1)
                os.dup2(quiet, 2)
                # Nothing but stdio and the control socket survives into the child: the result
                # fd and anything else the supervisor holds are gone before student code.
                _close_all_but((0, 1, 2, ctl))
                os.setpgid(0, 0)
                _harden_child(supervisor_pid, self.job.isolated)
                from sandbox.harness.child import serve_cases

                serve_cases(self.job, self.root, ctl, device)
            finally:
                os._exit(4)
        theirs.close()
        return _Runner(pid=pid, ctl=ours, device=device)

    def retire(self) -> None:
        """Stop the case child, if any (its cases are over)."""
        runner, self.runner = self.runner, None
        if runner is None:
            return
        runner.ctl.close()
        _kill_group(runner.pid)
        _reap(runner.pid)

    def read_result(self, msg_r: int, wait: Callable[[int], None]) -> ChildResult | None:
        """The child's first message, which must be its result (None: it sent nothing)."""
        frame = protocol.read_frame(msg_r, self.job.limits.output_bytes, wait)
        if frame is None:
            return None
        msg = protocol.decode_child_message(frame[1]) if frame[0] == protocol.JSON else None
        if not isinstance(msg, ChildResult):
            raise protocol.ProtocolError("the child's first message was not a result")
        if msg.case != self.current_case:
            raise protocol.ProtocolError("the child's result names another case")
        return msg

    def read_tensors(self, msg_r: int, wait: Callable[[int], None]) -> bytes | bytearray:
        """The tensor frame the child's ok result announced."""
        frame = protocol.read_frame(msg_r, self.job.limits.output_bytes, wait)
        if frame is None or frame[0] != protocol.TENSORS:
            raise protocol.ProtocolError("the child sent no output tensors")
        return _checked_safetensors(frame[1])

    def time_child(self, msg_r: int, go_w: int, wait: Callable[[int], None],
                   pid: int = -1) -> TimingSample | str:
        """Warm-up then timed repeats; each iteration's time is taken here, not in the child:
        wall time by our clock, and the CPU time the child's process spent (the kernel's clock
        for process `pid`, which the child cannot set).

        Returns the sample, or the child's rule-violation message if it broke a rule meanwhile.
        """
        warmup, repeats = self.job.timing.warmup, self.job.timing.repeats
        # CPU time speaks for the case only while the child is the only process doing its work:
        # in our own pid namespace, where every other process would be the submission's (a
        # helper computing while the child waits, which its CPU clock would not count). One
        # seen at any repeat's end, alive or a zombie, and the case is judged by wall time; a
        # helper the child reaped is counted through the child's children's CPU time.
        cpu_clock = _cpu_clock_of(pid) if self.job.isolated else None
        spared = {1, os.getpid(), pid}
        if cpu_clock is not None and _others(spared):
            cpu_clock = None

        def reply() -> ChildResult | str | tuple[str, int]:
            frame = protocol.read_frame(msg_r, protocol.MAX_JSON_BYTES, wait)
            if frame is None or frame[0] != protocol.JSON:
                raise protocol.ProtocolError("the child stopped during timing")
            return protocol.decode_child_message(frame[1])

        if reply() != "timing_ready":
            raise protocol.ProtocolError("the child did not start timing")
        trusted_ns: list[int] = []
        self_ns: list[int] = []
        cpu_ns: list[int] = []
        for i in range(warmup + repeats):
            if i == warmup:
                # The outside stamps this and the end mark with its own clock (cross-check).
                self.emit({"type": "timing_mark", "case": self.current_case, "mark": "start"})
            nonce = os.urandom(8)
            while nonce == b"\0" * 8:
                nonce = os.urandom(8)
            c0 = _cpu_now(cpu_clock, pid)
            t0 = time.perf_counter_ns()
            protocol.write_all(go_w, nonce)
            msg = reply()
            t1 = time.perf_counter_ns()
            c1 = _cpu_now(cpu_clock, pid)
            if cpu_clock is not None and _others(spared):
                cpu_clock = c1 = None
                cpu_ns.clear()
            if isinstance(msg, ChildResult) and msg.ending is Ending.RULE_VIOLATION:
                return msg.message[:4000]
            if not isinstance(msg, tuple) or msg[0] != nonce.hex():
                raise protocol.ProtocolError("timing reply out of sequence")
            if i >= warmup:
                trusted_ns.append(t1 - t0)
                self_ns.append(msg[1])
                if c0 is not None and c1 is not None:
                    cpu_ns.append(c1 - c0)
        self.emit({"type": "timing_mark", "case": self.current_case, "mark": "end"})
        protocol.write_all(go_w, b"\0" * 8)
        return TimingSample(trusted_ns=trusted_ns, self_ns=self_ns,
                            cpu_ns=cpu_ns if len(cpu_ns) == len(trusted_ns) else [])


def _cpu_clock_of(pid: int) -> int | None:
    """The clock id of process `pid`'s CPU time (Linux: CPUCLOCK_SCHED of the whole process,
    as clock_getcpuclockid(3) makes it), or None where it cannot be read."""
    if pid <= 0:
        return None
    clock = ((~pid) << 3) | 2
    return clock if _cpu_now(clock, pid) is not None else None


_TICK_NS = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") or 100)


def _cpu_now(clock: int | None, pid: int) -> int | None:
    """Process `pid`'s CPU time so far (all its threads), plus what the children it has reaped
    spent (in clock ticks: zero for a child that starts no process)."""
    if clock is None:
        return None
    try:
        own = time.clock_gettime_ns(clock)
        fields = _stat_fields(pid)
        return own + (int(fields[13]) + int(fields[14])) * _TICK_NS  # cutime, cstime
    except (OSError, ValueError, IndexError):  # the process is gone (or no such clock here)
        return None


def _others(spared: set[int]) -> bool:
    """Whether any process but the `spared` ones is in this (the sandbox's) pid namespace."""
    try:
        return any(pid not in spared for pid in _namespace_pids())
    except OSError:
        return True


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (state first), as proc(5) numbers from field 3."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[-1].split()


def _namespace_pids() -> list[int]:
    """Every process /proc lists (in the sandbox: its own pid namespace's)."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _ending(killed: Ending | None, child: ChildResult | None, error: str | None,
            sig: int | None) -> tuple[Ending, str]:
    """How the case ended, in order of precedence: our own kill, a result that went wrong
    afterwards, the child's own result, its death (sig: None when we killed it), a protocol
    error, its exit."""
    if killed is not None:
        return killed, ""
    if child is not None and error is not None:
        return Ending.PROTOCOL_ERROR, error
    if child is not None:
        return child.ending, child.message
    if sig is not None:
        return (Ending.CPU_LIMIT if sig == signal.SIGXCPU else Ending.SIGNALED), ""
    if error is not None:
        return Ending.PROTOCOL_ERROR, error
    return Ending.EXITED, ""


def _checked_safetensors(blob: bytes | bytearray) -> bytes | bytearray:
    """Reject anything that is not a well-formed safetensors header before relaying it."""
    if len(blob) < 8:
        raise protocol.ProtocolError("output tensors are truncated")
    n = int.from_bytes(blob[:8], "little")
    if n > min(len(blob) - 8, 16 << 20):
        raise protocol.ProtocolError("output tensors have a malformed header")
    try:
        header = json.loads(blob[8 : 8 + n])
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise protocol.ProtocolError("output tensors have a malformed header")
    return blob


def _close_all_but(keep: tuple[int, ...]) -> None:
    """Close every descriptor except those in keep."""
    try:
        fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd not in keep:
            _close(fd)


def _harden_child(supervisor_pid: int, isolated: bool) -> None:
    """In the forked child, before any student code: no signals to the supervisor or init, and
    the child is the one the OOM killer picks first."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    try:
        from sandbox import seccomp

        seccomp.install(seccomp.child_filter(supervisor_pid))
    except Exception:  # noqa: BLE001 - any failure to protect the supervisor
        if isolated:  # inside the sandbox an unprotected supervisor is not acceptable
            os._exit(5)


def kill_strays(keep: int | None = None) -> int:
    """SIGKILL every process of the sandbox except the supervisor, the namespace's init and the
    case child that takes the next case (`keep`).

    Only valid inside the sandbox's own pid namespace (job.isolated): there, every other process is
    a leftover of the student's (double-forked, setsid'd, daemonised, ...)."""
    me, count = os.getpid(), 0
    spared = {1, me} if keep is None else {1, me, keep}
    for _ in range(20):
        found = False
        for pid in _namespace_pids():
            if pid in spared:
                continue
            try:
                if _stat_fields(pid)[0] == "Z":
                    continue  # already dead, waiting for init to reap it
            except (OSError, IndexError):
                continue
            found = True
            try:
                os.kill(pid, signal.SIGKILL)
                count += 1
            except (ProcessLookupError, PermissionError):
                pass
        if not found:
            break
        # Reap the ones that are ours, so the next case starts from a clean table.
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        time.sleep(0.01)
    return count


def _poll(pid: int) -> tuple[int, int]:
    """waitpid without blocking; a child already reaped elsewhere counts as exited."""
    try:
        return os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return pid, 0


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _preload() -> None:
    """What every case child would otherwise import again: the judge's own child, loader, rules
    and kit modules, the seccomp module each zygote run installs its filter with (the sandbox
    writes no .pyc: it was compiled from source in every run), and a module torch imports
    lazily on the first `torch.autograd.grad` or `backward` with a default gradient (half a
    second, in every case that uses autograd). Only library and judge code is imported here,
    never the submission's."""
    import torch.fx.experimental.symbolic_shapes  # noqa: F401

    import sandbox.harness.child
    import sandbox.kit
    import sandbox.seccomp  # noqa: F401


def _wait_for_job() -> bool:
    """A warm sandbox: torch is imported, then the backend fills the (empty) job folder and
    writes `go <cpu seconds>` on stdin. False when stdin closes first (the slot was retired).
    The CPU rlimit, set generously when the sandbox started, is lowered to this run's."""
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401

    _preload()

    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 64)
        if not chunk:
            return False
        line += chunk
    word, _, seconds = line.decode("ascii", "replace").strip().partition(" ")
    if word != "go":
        return False
    used = resource.getrusage(resource.RUSAGE_SELF)
    cap = int(used.ru_utime + used.ru_stime) + max(1, int(seconds or 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cap, cap))
    return True


def _wait_for_file(job_path: Path) -> None:
    """A warm container: torch is imported; the job file appears (renamed into place last) when
    the backend hands this sandbox its run. The backend kills the container to retire it."""
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401

    _preload()
    # The backend retires a container idle for 10 minutes; one whose worker died without
    # retiring it (a killed worker container) stops by itself after twice that.
    give_up = time.monotonic() + ORPHAN_WAIT_S
    while not job_path.exists():
        if time.monotonic() > give_up:
            os._exit(0)
        time.sleep(0.005)


def _install_seccomp() -> bool:
    """Our syscall filter, installed by ourselves (the docker backend cannot hand bwrap one)
    while this is the only thread, so that everything forked later inherits it."""
    from sandbox import seccomp

    try:
        seccomp.install(seccomp.sandbox_filter())
    except OSError as exc:
        print(f"refusing to run: seccomp filter not installed: {exc}", file=sys.stderr)
        return False
    return True


def main(argv: list[str]) -> int:
    """Read the job, make this process non-dumpable, run every case.

    Flags (before the job path and the result fd): `--wait` imports torch, then waits for
    `go` on stdin (a warm process sandbox, see backends/process.py); `--wait-file` imports
    torch, then waits for the job file to appear (a warm container); `--seccomp` installs our
    syscall filter first, while this is the only thread (the docker backend); `--zygote CTL_FD`
    serves many runs, each in a fork that isolates itself (sandbox/harness/zygote.py)."""
    flags = {a for a in argv[1:] if a.startswith("--")}
    rest = [a for a in argv[1:] if a not in flags]
    if "--zygote" in flags:
        _non_dumpable()
        from sandbox.harness.zygote import serve

        serve(int(rest[0]))
    job_path, result_fd = Path(rest[0]), int(rest[1])
    _non_dumpable()
    seccomp_done = "--seccomp" in flags
    if seccomp_done and not _install_seccomp():
        return 4
    if result_fd == 1:
        # In a container the attached stdout is the result channel: keep it to ourselves under
        # another number and send anything else printed to fd 1 (a library's warning) to stderr.
        result_fd = os.dup(1)
        os.dup2(2, 1)
    os.set_inheritable(result_fd, False)
    if "--wait" in flags and not _wait_for_job():
        os._exit(0)
    if "--wait-file" in flags:
        _wait_for_file(job_path)
    serve_job(job_path, result_fd, seccomp_done)


def serve_job(job_path: Path, result_fd: int, seccomp_done: bool = True) -> NoReturn:
    """Read the job file and run every case, writing results to result_fd; exits the process
    (a warm or zygote-forked supervisor gets here with its isolation already in place)."""
    try:
        job = Job.decode(job_path.read_bytes())
    except (OSError, protocol.ProtocolError) as exc:
        print(f"refusing to run: unreadable job file: {exc}", file=sys.stderr)
        os._exit(4)
    if job.install_seccomp and not seccomp_done and not _install_seccomp():
        os._exit(4)
    # Import torch once here so each forked child starts warm; CUDA is never initialised here.
    # So is the judge's own code every child runs (the child, loader, rules and kit modules).
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401

    _preload()

    try:
        Supervisor(job, job_path.parent, result_fd).run()
    except BrokenPipeError:
        os._exit(1)
    os.close(result_fd)
    # Skip interpreter teardown (seconds with torch loaded): the results are already out.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
