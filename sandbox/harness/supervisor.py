"""The trusted half of the harness: `python -m sandbox.harness.supervisor JOB.json RESULT_FD`.

It forks one child per case (the child runs the student's code), relays the child's result to
the result channel, which the child cannot reach (it is closed in the child and this process
is made non-dumpable, so /proc/<pid>/fd is out of reach too), and times the child from here
with its own clock, so patched clocks inside the child change nothing.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import threading
import time
from typing import Any

from sandbox import protocol

PR_SET_DUMPABLE = 4
# Set by the isolating backends only: this process runs in the sandbox's own pid namespace.
ISOLATED = os.environ.get("TJ_ISOLATED") == "1"


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

    def __init__(self, job: dict[str, Any], result_fd: int) -> None:
        self.job = job
        self.result_fd = result_fd
        limits = job.get("limits", {})
        self.output_bytes = int(limits.get("output_bytes", 64 << 20))
        self.stdout_keep = int(limits.get("stdout_bytes", 64 << 10))
        self.stdout_kill = int(limits.get("stdout_kill_bytes", 16 << 20))
        self.case_time_s = float(limits.get("case_time_s", 30.0))
        self.current_case = ""

    def emit(self, obj: dict[str, Any], blob: bytes | None = None) -> None:
        protocol.write_all(self.result_fd, protocol.encode_json(obj))
        if blob is not None:
            protocol.write_all(self.result_fd, protocol.encode(protocol.TENSORS, blob))

    def run(self) -> None:
        self.emit({"type": "hello", "pid": os.getpid()})
        for case in self.job["cases"]:
            self.emit({"type": "case_start", "case": case["name"]})
            self.run_case(case)
        self.emit({"type": "done"})

    def run_case(self, case: dict[str, Any]) -> None:
        self.current_case = case["name"]
        msg_r, msg_w = os.pipe()
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: untrusted from the moment the submission is imported
            try:
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                # Nothing but stdio and the case's own two pipes survives into the child: the
                # result fd and anything else the supervisor holds are gone before student code.
                _close_all_but((0, 1, 2, msg_w, go_r))
                os.setpgid(0, 0)
                _harden_child(supervisor_pid)
                from sandbox.harness.child import child_main

                child_main(self.job, case, msg_w, go_r)
            finally:
                os._exit(4)
        for fd in (msg_w, go_r, out_w):
            os.close(fd)
        drain = _OutputDrain(out_r, self.stdout_keep)
        drain.start()
        report: dict[str, Any] = {"type": "case_result", "case": case["name"]}
        blob: bytes | None = None
        deadline = time.monotonic() + self.case_time_s
        killed: str | None = None

        def watchdog() -> None:
            nonlocal killed
            while time.monotonic() < deadline:
                if stop.wait(0.05):
                    return
                if drain.total > self.stdout_kill:
                    killed = "output_limit"
                    break
            else:
                killed = killed or "timeout"
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
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        reaped.append(status)
                elif not select.select([fd], [], [], 0.05)[0]:
                    raise protocol.ProtocolError("the child exited without a complete result")

        dog = threading.Thread(target=watchdog, daemon=True)
        dog.start()
        try:
            frame = protocol.read_frame(msg_r, self.output_bytes, wait)
            if frame is not None and frame[0] == protocol.JSON:
                result = json.loads(frame[1])
                if isinstance(result, dict) and result.get("type") == "result":
                    report["child"] = result
                    if result.get("status") == "ok":
                        tensors = protocol.read_frame(msg_r, self.output_bytes, wait)
                        if tensors is None or tensors[0] != protocol.TENSORS:
                            raise protocol.ProtocolError("the child sent no output tensors")
                        blob = _checked_safetensors(tensors[1])
                        if case.get("timed"):
                            timing = self.time_child(msg_r, go_w, wait)
                            if "rule_violation" in timing:  # broke a rule while being timed
                                report["child"] = {**result, "status": "rule_violation",
                                                   "message": timing["rule_violation"]}
                                blob = None
                            else:
                                report["timing"] = timing
                else:
                    report["protocol_error"] = "the child's first message was not a result"
        except (protocol.ProtocolError, ValueError, json.JSONDecodeError) as exc:
            report["protocol_error"] = str(exc)
            blob = None
        finally:
            _close(go_w)
            _kill_group(pid)
            status = reaped[0] if reaped else os.waitpid(pid, 0)[1]
            stop.set()
            dog.join()
            drain.join(timeout=2)
            _close(msg_r)
            _close(out_r)
            if ISOLATED:
                report["strays_killed"] = kill_strays()
        report["exit_status"] = _describe_status(status)
        report["killed"] = killed
        report["stdout"] = drain.data.decode("utf-8", "replace")
        report["stdout_total_bytes"] = drain.total
        self.emit(report, blob)

    def time_child(self, msg_r: int, go_w: int, wait: Any) -> dict[str, Any]:
        """Warm-up then timed repeats; each iteration's time is taken here, not in the child."""
        timing = self.job.get("timing", {})
        warmup, repeats = int(timing.get("warmup", 2)), int(timing.get("repeats", 5))
        frame = protocol.read_frame(msg_r, protocol.MAX_JSON_BYTES, wait)
        if frame is None or json.loads(frame[1]).get("type") != "timing_ready":
            raise protocol.ProtocolError("the child did not start timing")
        trusted_ns: list[int] = []
        self_ns: list[int] = []
        for i in range(warmup + repeats):
            if i == warmup:
                # The outside stamps this and the end mark with its own clock (cross-check).
                self.emit({"type": "timing_mark", "case": self.current_case, "mark": "start"})
            nonce = os.urandom(8)
            while nonce == b"\0" * 8:
                nonce = os.urandom(8)
            t0 = time.perf_counter_ns()
            protocol.write_all(go_w, nonce)
            frame = protocol.read_frame(msg_r, protocol.MAX_JSON_BYTES, wait)
            t1 = time.perf_counter_ns()
            if frame is None:
                raise protocol.ProtocolError("the child stopped during timing")
            msg = json.loads(frame[1])
            if msg.get("type") == "result" and msg.get("status") == "rule_violation":
                return {"rule_violation": str(msg.get("message", ""))[:4000]}
            if msg.get("type") != "tock" or msg.get("nonce") != nonce.hex():
                raise protocol.ProtocolError("timing reply out of sequence")
            if i >= warmup:
                trusted_ns.append(t1 - t0)
                self_ns.append(int(msg.get("self_ns", 0)))
        self.emit({"type": "timing_mark", "case": self.current_case, "mark": "end"})
        protocol.write_all(go_w, b"\0" * 8)
        return {"trusted_ns": trusted_ns, "self_ns": self_ns}


def _checked_safetensors(blob: bytes) -> bytes:
    """Reject anything that is not a well-formed safetensors header before relaying it."""
    if len(blob) < 8:
        raise protocol.ProtocolError("output tensors are truncated")
    n = int.from_bytes(blob[:8], "little")
    if n > min(len(blob) - 8, 16 << 20):
        raise protocol.ProtocolError("output tensors have a malformed header")
    header = json.loads(blob[8 : 8 + n])
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


def _harden_child(supervisor_pid: int) -> None:
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
        if ISOLATED:  # inside the sandbox an unprotected supervisor is not acceptable
            os._exit(5)


def kill_strays() -> int:
    """SIGKILL every process of the sandbox except the supervisor and the namespace's init.

    Only valid inside the sandbox's own pid namespace (ISOLATED): there, every other process is
    a leftover of the student's (double-forked, setsid'd, daemonised, ...)."""
    me, count = os.getpid(), 0
    for _ in range(20):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (1, me):
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    if f.read().rsplit(")", 1)[-1].split()[0] == "Z":
                        continue  # already dead, waiting for init to reap it
            except (OSError, IndexError):
                continue
            found = True
            try:
                os.kill(int(name), signal.SIGKILL)
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


def _describe_status(status: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1}


def main(argv: list[str]) -> int:
    """Read the job, make this process non-dumpable, run every case."""
    job_path, result_fd = argv[1], int(argv[2])
    _non_dumpable()
    if os.environ.get("TJ_SECCOMP") == "1":
        # The docker backend cannot hand bwrap a filter: install the same one ourselves, while
        # this is the only thread, so everything forked later inherits it.
        from sandbox import seccomp

        try:
            seccomp.install(seccomp.sandbox_filter())
        except OSError as exc:
            print(f"refusing to run: seccomp filter not installed: {exc}", file=sys.stderr)
            return 4
    if result_fd == 1:
        # In a container the attached stdout is the result channel: keep it to ourselves under
        # another number and send anything else printed to fd 1 (a library's warning) to stderr.
        result_fd = os.dup(1)
        os.dup2(2, 1)
    os.set_inheritable(result_fd, False)
    with open(job_path) as f:
        job = json.load(f)
    # Import torch once here so each forked child starts warm; CUDA is never initialised here.
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401

    try:
        Supervisor(job, result_fd).run()
    except BrokenPipeError:
        os._exit(1)
    os.close(result_fd)
    # Skip interpreter teardown (seconds with torch loaded): the results are already out.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
