"""The zygote: one warm process sandbox that serves many runs, one after another.

`python -m sandbox.harness.supervisor --zygote CTL_FD` imports torch and the judge's own code
once, says `ready` on its control socket, then waits for orders. Each order names a job folder
(which the backend has just filled, under the zygote's /jobs) and carries three descriptors:
the run's own socket, its result channel and its stderr. The zygote hands them to a fork made
ahead, while it waited (after the previous run's processes were all reaped); the fork is the
run's supervisor. It tells the backend its pid (the kernel translates it), waits until the backend has
moved it into the run's own cgroup, then enters isolation of its own before it reads anything
of the job:

- a new user namespace (only to own the two below; every capability is dropped again after);
- a new mount namespace: a fresh tmpfs on /tmp and on /dev/shm, the run's job folder bound
  read-only at /job, and an empty read-only tmpfs over /jobs;
- a new IPC namespace (no System V or POSIX IPC object of an earlier run);
- the full sandbox syscall filter, on top of the zygote's, and the run's rlimits.

The zygote itself is pid 1 of the sandbox (non-dumpable, immune to signals from inside), runs
only judge code, and never reads a job: it holds torch, nothing secret and nothing of any run.
It waits for the run's supervisor, reports how it exited, then reaps every process the run left
(the backend kills the run's whole cgroup) and says `clean`; only then does the backend hand it
the next order. The security argument is in sandbox/backends/process.py.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import socket
import sys
from pathlib import Path
from typing import NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
PR_CAPBSET_DROP = 24
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522
JOBS_INSIDE = "/jobs"
JOB_INSIDE = "/job"
TMP_STAGE = "/.tj-tmp"  # an empty mount point where each run's /tmp is laid out first


class IsolationFailed(RuntimeError):
    """The fork could not enter its own isolation (the kernel refused a namespace or a mount)."""


def serve(ctl_fd: int) -> NoReturn:
    """The zygote's life: import once, then fork one run per order until the socket closes."""
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401

    from sandbox.harness.supervisor import _preload

    _preload()
    ctl = socket.socket(fileno=ctl_fd)
    ctl.send(b"ready")
    while True:
        # The next run's process is forked while we wait for its order (a fork of a process
        # with torch loaded is ~20 ms): forked from this clean zygote, after every process of
        # the previous run was reaped, it holds nothing of any run, and it reads nothing until
        # its order comes.
        pid, waiting = _fork_next(ctl)
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 4096, 3)
        except OSError:
            os._exit(0)
        if not msg or len(fds) != 3:
            os._exit(0)
        try:
            socket.send_fds(waiting, [msg], fds)
        except OSError:  # it died while waiting (nothing of a run was in it): fork it again
            waiting.close()
            _wait(pid)
            pid, waiting = _fork_next(ctl)
            socket.send_fds(waiting, [msg], fds)
        waiting.close()
        for fd in fds:
            os.close(fd)
        status = _wait(pid)
        try:
            ctl.send(f"exit {status}".encode())
            _reap_all()  # returns once the backend has killed whatever the run left
            ctl.send(b"clean")
        except OSError:
            os._exit(0)


def _fork_next(ctl: socket.socket) -> tuple[int, socket.socket]:
    """Fork the process that will be the next run's supervisor; it waits for its order (and
    the run's three descriptors) on a socket of its own, and exits quietly if that closes."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 4
        try:
            ctl.close()
            ours.close()
            msg, fds, _, _ = socket.recv_fds(theirs, 4096, 3)
            theirs.close()
            if not msg or len(fds) != 3:
                code = 0  # the zygote is going away: there is no run
            else:
                code = _run(json.loads(msg), *fds)
        finally:
            os._exit(code)
    theirs.close()
    return pid, ours


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def _reap_all() -> None:
    """Reap every child left (orphans of the run are ours: we are pid 1) until none is."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _run(order: dict[str, object], run_fd: int, result_fd: int, err_fd: int) -> int:
    """The forked run supervisor: join the run's cgroup, isolate, then serve the job."""
    os.dup2(err_fd, 1)
    os.dup2(err_fd, 2)
    os.close(err_fd)
    run = socket.socket(fileno=run_fd)
    run.send(b"pid")  # the backend's end has SO_PASSCRED: the kernel tells it who we are
    if run.recv(16) != b"go":  # the backend moved us into the run's cgroup, or gave up
        return 4
    try:
        isolate(str(order["job"]), int(str(order["tmp_mb"])))
    except (IsolationFailed, OSError, KeyError, ValueError) as exc:
        run.send(f"fail {exc}"[:400].encode())
        return 4
    cap = max(1, int(str(order.get("cpu_s", 1))))
    resource.setrlimit(resource.RLIMIT_CPU, (cap, cap))
    size = max(1, int(str(order["tmp_mb"]))) << 20  # as a cold run's: no file past its /tmp's size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    run.send(b"ok")
    run.close()
    os.set_inheritable(result_fd, False)
    from sandbox.harness.supervisor import serve_job

    serve_job(Path(JOB_INSIDE) / "job.json", result_fd)  # never returns


def isolate(job: str, tmp_mb: int) -> None:
    """Enter this run's own namespaces and mounts, drop every capability, install the sandbox
    filter. Raises IsolationFailed (or OSError) when any step is refused: the run must not go
    on half isolated."""
    if "/" in job or job in ("", ".", ".."):
        raise IsolationFailed(f"not a job folder name: {job!r}")
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    # A non-dumpable process may not write its own uid_map (its /proc files are root's): dumpable
    # for these few calls, while nothing but the zygote shares this sandbox with us (the run
    # before was killed and reaped), then non-dumpable again below.
    _ok(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    _ok(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")

    def mount(src: str, target: str, fs: str | None, flags: int, data: str | None = None) -> None:
        _ok(libc.mount(src.encode(), target.encode(), fs.encode() if fs else None, flags,
                       data.encode() if data else None), f"mount {target}")

    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates anywhere
    size = f"size={max(1, tmp_mb)}m,mode=0755"
    # The fresh /tmp is laid out aside, with the read-only binds that live under the old one (a
    # checkout or Python environment under the host's /tmp) bound into it again, then moved on top.
    mount("tmpfs", TMP_STAGE, "tmpfs", MS_NOSUID | MS_NODEV, size)
    for target in _mounts_under("/tmp"):
        inside = TMP_STAGE + target[len("/tmp"):]
        if os.path.isdir(target):
            os.makedirs(inside, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            Path(inside).touch()
        mount(target, inside, None, MS_BIND | MS_REC)
    mount(TMP_STAGE, "/tmp", None, MS_MOVE)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, size)
    source = f"{JOBS_INSIDE}/{job}"
    mount(source, JOB_INSIDE, None, MS_BIND | MS_REC)
    mount(source, JOB_INSIDE, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount("tmpfs", JOBS_INSIDE, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0")
    _drop_capabilities(libc)
    _ok(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _ok(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "non-dumpable")
    from sandbox import seccomp

    seccomp.install(seccomp.sandbox_filter())
    os.chdir("/tmp")


def _mounts_under(top: str) -> list[str]:
    """The outermost mount points below `top` (not `top` itself), from /proc/self/mountinfo;
    one bound with MS_REC brings those below it along."""
    found: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if point.startswith(top + "/"):
            found.append(point)
    return [p for p in found if not any(p != q and p.startswith(q + "/") for q in found)]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """Empty the bounding set, then the effective, permitted and inheritable sets (which also
    empties the ambient set): what the new user namespace gave us is gone before any job."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such cap
            raise IsolationFailed(f"cannot drop capability {cap}: {os.strerror(ctypes.get_errno())}")
    data = (_CapData * 2)()
    _ok(libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data), "capset")
    if Path("/proc/self/status").read_text().split("CapEff:")[1].split()[0].strip("0"):
        raise IsolationFailed("capabilities are still effective")


def _ok(ret: int, what: str) -> None:
    if ret != 0:
        raise IsolationFailed(f"{what}: {os.strerror(ctypes.get_errno())}")
