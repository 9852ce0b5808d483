"""The process sandbox: bubblewrap namespaces, seccomp and cgroups around the harness.

Fresh user/pid/net/ipc/uts/cgroup namespaces; a read-only root with read-only binds of the
system, the Python environment, the harness and the job; a private size-capped /tmp; no network
at all (seccomp refuses every socket family but AF_UNIX, and the net namespace is empty); all
capabilities dropped; a clean environment; an unprivileged real uid when we run as root; a
per-run cgroup (memory, pids, CPU) joined before bubblewrap starts; rlimits; and a hard
wall-clock kill from outside, after which everything left in the cgroup is killed too.

Warm sandboxes. Starting Python and importing torch costs over a second, more than most
submissions' compute. So every run starts the same way: bubblewrap around a supervisor that
imports torch and then waits on its stdin; the job folder bound at /job is still empty. A run
is handed to it by filling that folder and writing `go`. With `warm` > 0 the backend keeps that
many such sandboxes started ahead of time for each shape of run (limits, GPUs), refilled in the
background after each one is taken, so a submission does not wait for the import.

Why this keeps submissions apart: a warm sandbox is an ordinary sandbox, with every isolation
above, that has not been handed anything yet. Until `go` it holds the judge's own code and torch,
no secret (the job's seeds arrive with the job), no reference and no submission; it serves
exactly one run and is then killed with its whole cgroup, its private /tmp (a tmpfs that dies
with its mount namespace) and its job folder. Nothing of one run (files, processes, memory,
GPU memory: CUDA is never initialised before a run's child does so) can reach the next, which
gets another sandbox. The reference gets its own sandbox too, never the submission's.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import json
import logging
import os
import queue
import resource
import shutil
import socket
import stat as stat_mod
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from sandbox import cgroups, protocol, seccomp
from sandbox.backends.base import (
    HARNESS_ROOT,
    OWNER,
    RunResult,
    RunSpec,
    Started,
    TailReader,
    fill_job_dir,
    harness_env,
    make_job_dir,
    owner_dead,
    shelve,
    start_with_channel,
    sweep_job_dirs,
    take_warm,
    wait_for_starts,
    watch,
    watch_run,
)
from sandbox.cgroups import Cgroup, CgroupLimits, CgroupUnavailable
from sandbox.framing import wide_pipe
from sandbox.protocol import Job

log = logging.getLogger(__name__)

JOB_INSIDE = "/job"
JOBS_INSIDE = "/jobs"  # a zygote's: where each of its runs' job folders appears
TMP_STAGE = "/.tj-tmp"  # a zygote's: where each run lays out its fresh /tmp (harness/zygote.py)
JUDGE_INSIDE = "/judge"
# The supervisor (torch imported) and the forked child's copy-on-write share, above the
# problem's own memory limit; the child also gets RLIMIT_AS on CPU cases.
HARNESS_OVERHEAD_MB = 768
STAGING_ROOT = Path(tempfile.gettempdir()) / "tensorjudge-sandbox"
NVIDIA_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
# A waiting sandbox's CPU rlimit (torch's import and the longest run fit); the supervisor lowers
# it to the run's own when it is handed one.
WAITING_CPU_S = 3600 + 300
WARM_MAX_IDLE_S = 600.0  # a warm sandbox not used for this long is retired
# Importing torch takes a core for a second or more, which a running submission's timed cases
# must not share. So a warm sandbox starts at once, in a cgroup with the least CPU share (it only
# gets a core no run wants), and gets the normal share back when a run takes it (still importing
# or not). Where the share cannot be set (no cgroups), warm sandboxes start only once no run of ours
# has been going for WARM_QUIET_S, and back-to-back runs (a busy worker) start cold.
WARM_QUIET_S = 0.25
WARM_SHAPES = 2  # at most this many shapes of run keep warm sandboxes at once


@dataclass
class _Slot:
    """One started sandbox, waiting for its run."""

    key: tuple[object, ...]
    started: Started
    job_dir: Path
    group: Cgroup | None
    filter_fd: int
    born: float
    low: bool = False  # started with the least CPU share (a warm start), to be given it back

    def alive(self) -> bool:
        return self.started.proc.poll() is None


# A zygote's own cgroup: the interpreter with torch imported (a CUDA build maps more), and the
# moment a fork of it spends there before it is moved into its run's cgroup.
ZYGOTE_MEMORY_MB = 2048
ZYGOTE_PIDS = 64
ZYGOTE_START_S = 180.0  # its torch import, at the least CPU share on a busy machine
ZYGOTE_REPLY_S = 20.0  # a fork's pid, and its word that its isolation is in place
ZYGOTE_CLEAN_S = 10.0  # after the run's cgroup is killed: the zygote has reaped it all
ZYGOTE_FAILURES = 3  # zygotes that would not start in a row before the backend stops trying


@dataclass
class _Zygote:
    """A started zygote (sandbox/harness/zygote.py), idle between runs."""

    key: tuple[object, ...]
    proc: subprocess.Popen[bytes]
    ctl: socket.socket
    group: Cgroup
    jobs_dir: Path
    tail: TailReader
    born: float

    def alive(self) -> bool:
        return self.proc.poll() is None


class _ZygoteExit:
    """A run's supervisor as watch_run() waits for it: the zygote reports its exit status."""

    def __init__(self, ctl: socket.socket) -> None:
        self.ctl = ctl
        self.returncode: int | None = None
        self.lost = False  # the zygote died or said something out of turn

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        self.ctl.settimeout(30.0 if timeout is None else timeout)
        try:
            msg = self.ctl.recv(64)
        except (TimeoutError, BlockingIOError):
            if timeout is not None:
                raise subprocess.TimeoutExpired("zygote run", timeout) from None
            msg = b""
        except OSError:
            msg = b""
        finally:
            self.ctl.settimeout(None)
        word, _, status = msg.decode("ascii", "replace").partition(" ")
        if word == "exit" and status.lstrip("-").isdigit():
            self.returncode = os.waitstatus_to_exitcode(int(status))
        else:
            self.lost, self.returncode = True, -9
        return self.returncode


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The pid the kernel put in an SCM_CREDENTIALS message (translated into our namespace)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= 12:
            pid = struct.unpack("iII", data[:12])[0]
            if pid > 0:
                return int(pid)
    raise OSError("the zygote's fork sent no credentials")


def _order(job_dir: Path, spec: RunSpec) -> dict[str, object]:
    """What a zygote's fork is told of its run: its job folder's name, its /tmp, its CPU time."""
    return {"job": job_dir.name, "tmp_mb": spec.tmp_mb, "cpu_s": int(spec.wall_time_s) + 5}


def _said(sock: socket.socket, word: bytes, timeout_s: float) -> bool:
    """Whether the next message on sock is `word`, within timeout_s."""
    sock.settimeout(timeout_s)
    try:
        return sock.recv(64) == word
    except OSError:
        return False
    finally:
        sock.settimeout(None)


class BubblewrapUnavailable(RuntimeError):
    """bwrap is missing or cannot create namespaces on this host."""


def find_bwrap() -> str | None:
    """Path of the bwrap binary, if installed."""
    return shutil.which("bwrap") or (os.path.exists("/usr/bin/bwrap") and "/usr/bin/bwrap") or None


def _python_roots() -> list[str]:
    """Folders the interpreter and its packages live in, bound read-only at the same paths."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    exe = os.path.realpath(sys.executable)
    roots.add(str(Path(exe).parent.parent))
    return sorted(r for r in roots if not r.startswith("/usr"))


EXPOSED_ROOT = Path("/run/tensorjudge-sandbox")  # read-only views of folders the sandbox uid cannot reach


def reachable(path: str, uid: int) -> bool:
    """Whether uid (not the owner, not in the group: the sandbox's nobody) can walk to and read
    `path`: every folder above it searchable by others, the path itself readable and searchable."""
    p = Path(path)
    try:
        for folder in [*reversed(p.parents), p]:
            st = folder.stat()
            mine = st.st_uid == uid
            bits = (stat_mod.S_IXUSR if mine else stat_mod.S_IXOTH)
            if not st.st_mode & bits:
                return False
        return bool(p.stat().st_mode & (stat_mod.S_IRUSR if p.stat().st_uid == uid else stat_mod.S_IROTH))
    except OSError:
        return False


def expose(path: str) -> str | None:
    """A read-only bind mount of `path` under EXPOSED_ROOT (made once, kept for the machine's
    uptime), so that a sandbox dropped to an unprivileged uid can bind it at its usual place
    although a private folder above it (/root) blocks the way. None where we may not mount."""
    target = EXPOSED_ROOT / hashlib.sha256(path.encode()).hexdigest()[:16]
    try:
        EXPOSED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(EXPOSED_ROOT, 0o755)
        if os.path.ismount(target):
            return str(target)
        target.mkdir(mode=0o755, exist_ok=True)
        for argv in (["mount", "--bind", path, str(target)], ["mount", "-o", "remount,bind,ro", str(target)]):
            done = subprocess.run(argv, capture_output=True, timeout=10)
            if done.returncode != 0:
                why = done.stderr.decode(errors="replace")[-200:]
                log.warning("cannot expose %s to the sandbox uid: %s", path, why)
                if os.path.ismount(target):
                    subprocess.run(["umount", str(target)], capture_output=True, timeout=10)
                return None
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot expose %s to the sandbox uid: %s", path, exc)
        return None
    return str(target)


def gpu_args(gpus: list[int]) -> list[str]:
    """Device nodes (and the sysfs CUDA reads at start-up) for the given GPU indices."""
    if not gpus:
        return []
    args: list[str] = []
    for node in [f"/dev/nvidia{i}" for i in gpus] + list(NVIDIA_NODES):
        if os.path.exists(node):
            args += ["--dev-bind", node, node]
    for node in sorted(glob.glob("/dev/nvidia-caps/*")):
        args += ["--dev-bind", node, node]
    for path in ("/sys/bus/pci", "/sys/devices", "/sys/module/nvidia", "/etc/nvidia"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


class ProcessSandbox:
    """bubblewrap-based isolation for development, CI and single-machine installs."""

    name = "process"

    def __init__(self, uid: int = 65534, cgroup_root: Path | None = None, warm: int = 0,
                 zygote: bool = True) -> None:
        self.bwrap = find_bwrap()
        self.warm = max(0, warm)  # sandboxes kept started ahead, per shape of run
        # With warm > 0: zygotes (each serves many runs) where cgroups allow, else single-use
        # warm sandboxes. zygote_off says why zygotes are not used (None: they are).
        self.zygote_off: str | None = None if zygote else "turned off"
        self._zygotes: dict[tuple[object, ...], list[_Zygote]] = {}  # idle ones, per shape
        self._zstarting: Counter[tuple[object, ...]] = Counter()
        self._zlive: Counter[tuple[object, ...]] = Counter()  # idle or serving a run
        self._zfailures = 0
        self.zygotes_lost = 0  # zygotes that died, or did not come clean after a run (retired)
        self._slots: dict[tuple[object, ...], list[_Slot]] = {}
        self._lock = threading.Condition()  # notified when a warm sandbox is added or given up
        self._uid_lock = threading.Lock()
        self._starts: queue.Queue[RunSpec] = queue.Queue()
        self._warmer: threading.Thread | None = None
        self._starting: Counter[tuple[object, ...]] = Counter()  # warm sandboxes being started, per shape
        self._active = 0  # runs going on now
        self._idle_since = time.monotonic()
        self._low_ok: bool | None = None  # whether a warm start's CPU share could be lowered
        self._swept = False  # what a killed worker left is reclaimed before our first sandbox
        self.warm_hits = 0  # runs handed to a sandbox started ahead (for tests and benchmarks)
        self.uid = uid
        self.cgroup_root = cgroup_root
        # Only root can give the sandbox a real unprivileged uid; whether that uid can reach the
        # Python environment is probed on first use (a venv under /root cannot be reached).
        self.drop_uid = os.geteuid() == 0 and uid != 0
        self._uid_probed = not self.drop_uid
        self._exposed: dict[str, str] = {}  # host path -> a read-only view the sandbox uid can reach
        self.last_cgroup_version: int | None = None
        self.last_cgroup_dirs: list[str] = []  # the last run's cgroup (gone once it is empty)

    def _drop_privileges(self) -> None:
        if self.drop_uid:
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)

    def _source(self, path: str) -> str:
        """Where to bind `path` from: itself, or its exposed view when the sandbox uid cannot
        reach it (a Python environment or checkout under /root)."""
        return self._exposed.get(path, path)

    def _binds(self) -> list[str]:
        """--ro-bind arguments for the Python environment and the harness, at their own paths."""
        roots = [*_python_roots(), str(HARNESS_ROOT / "sandbox")]
        args = [a for root in roots[:-1] for a in ("--ro-bind", self._source(root), root)]
        return [*args, "--ro-bind", self._source(roots[-1]), f"{JUDGE_INSIDE}/sandbox"]

    def _probe(self) -> subprocess.CompletedProcess[bytes]:
        assert self.bwrap
        binds = self._binds()
        return subprocess.run(
            [self.bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", *self._system_links(),
             *binds, "--proc", "/proc", "--dev", "/dev", sys.executable, "-S", "-c", ""],
            capture_output=True, timeout=30, preexec_fn=self._drop_privileges,
        )

    def _settle_uid(self) -> None:
        with self._uid_lock:  # the warm-sandbox thread and a run may both get here first
            self._settle_uid_locked()

    def _settle_uid_locked(self) -> None:
        if self._uid_probed:
            return
        self._uid_probed = True
        if self.drop_uid:
            # A Python environment (or this checkout) under a private folder such as /root:
            # give the sandbox uid read-only views of it instead of running as our uid.
            for root in [*_python_roots(), str(HARNESS_ROOT / "sandbox")]:
                if not reachable(root, self.uid) and (view := expose(root)) is not None:
                    self._exposed[root] = view
        probe = self._probe()
        if probe.returncode != 0:
            self.drop_uid = False
            log.warning(
                "uid %d cannot reach the Python environment (%s); the sandbox keeps our real uid "
                "(uid %d only inside its user namespace)", self.uid,
                probe.stderr.decode(errors="replace").strip()[-200:], self.uid)

    def available(self) -> tuple[bool, str]:
        """Whether bwrap exists and can create the namespaces we need here."""
        if not self.bwrap:
            return False, "bubblewrap (bwrap) is not installed"
        try:
            seccomp.sandbox_filter()
        except seccomp.SeccompUnsupported as exc:
            return False, str(exc)
        self._settle_uid()
        probe = self._probe()
        if probe.returncode != 0:
            return False, "bwrap cannot create namespaces: " + probe.stderr.decode()[-300:]
        return True, "ok"

    @staticmethod
    def _system_links() -> list[str]:
        """/bin, /lib, ... as on the host: symlinks into /usr on merged-/usr systems."""
        args: list[str] = []
        for link in ("bin", "lib", "lib64", "sbin"):
            target = f"/{link}"
            if os.path.islink(target):
                args += ["--symlink", os.readlink(target), target]
            elif os.path.isdir(target):
                args += ["--ro-bind", target, target]
        return args

    def argv(self, spec: RunSpec, job_dir: Path, result_fd: int,
             seccomp_fd: int | None = None) -> list[str]:
        """The bwrap command line for one run of the job folder job_dir (shown at /job)."""
        return [*self._bwrap_args(spec.tmp_mb, spec.gpus, ["--ro-bind", str(job_dir), JOB_INSIDE], seccomp_fd),
                sys.executable, "-m", "sandbox.harness.supervisor", "--wait",
                f"{JOB_INSIDE}/{protocol.JOB_FILE}", str(result_fd)]

    def zygote_argv(self, gpus: list[int], jobs_dir: Path, ctl_fd: int) -> list[str]:
        """The bwrap command line for a zygote: the folder its runs' job folders appear in is
        bound at /jobs, /job is an empty mount point for each run's own, /tmp is tiny (each run
        mounts its own), and no syscall filter yet (each run installs the whole one itself, after
        the namespaces and mounts of its own that the filter forbids)."""
        mounts = ["--ro-bind", str(jobs_dir), JOBS_INSIDE, "--dir", JOB_INSIDE, "--dir", TMP_STAGE]
        return [*self._bwrap_args(1, gpus, mounts, None),
                sys.executable, "-m", "sandbox.harness.supervisor", "--zygote", str(ctl_fd)]

    def _bwrap_args(self, tmp_mb: int, gpus: list[int], mounts: list[str],
                    seccomp_fd: int | None) -> list[str]:
        """bwrap and its options, up to the command it runs."""
        assert self.bwrap
        args = [
            self.bwrap,
            "--unshare-all",
            "--uid", str(self.uid), "--gid", str(self.uid),
            "--hostname", "sandbox",
            "--die-with-parent",
            "--new-session",
            # The supervisor is pid 1 of the sandbox: non-dumpable, immune to signals from
            # inside its namespace, and the reaper of whatever the student orphans.
            "--as-pid-1",
            "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr",
            # /tmp first: binds below may live under the host's /tmp (a checkout in /tmp, say)
            # and must land on top of the private tmpfs, not be hidden by it.
            "--size", str(tmp_mb << 20), "--tmpfs", "/tmp",
        ]
        args += self._system_links()
        for etc in ("/etc/ld.so.cache", "/etc/localtime"):
            if os.path.exists(etc):
                args += ["--ro-bind", etc, etc]
        args += self._binds()
        args += [*mounts, "--proc", "/proc", "--dev", "/dev"]
        args += gpu_args(gpus)
        args += [
            "--remount-ro", "/",
            "--chdir", "/tmp",
            "--clearenv",
        ]
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        extra = {"PYTHONPATH": JUDGE_INSIDE}
        if gpus:
            extra["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpus)
        for key, value in harness_env(extra).items():
            args += ["--setenv", key, value]
        return args

    def _job_parent(self, spec: RunSpec) -> Path:
        """Where job folders go: one staging folder for every run, whatever its data dir, which
        the sandbox uid can reach (our data dir may sit under a private folder) and which lets
        a sandbox started ahead serve any run of the same shape."""
        STAGING_ROOT.mkdir(mode=0o711, exist_ok=True)
        os.chmod(STAGING_ROOT, 0o711)
        return STAGING_ROOT

    def _new_cgroup(self, kind: str, limits: CgroupLimits) -> Cgroup:
        """A cgroup `<kind>-<owner>-<random>` (the owner, for sweep() after a crash), or
        CgroupUnavailable."""
        name = f"{kind}-{OWNER}-{uuid.uuid4().hex[:12]}"
        return Cgroup.create(name, limits, root=self.cgroup_root) if self.cgroup_root else Cgroup.create(name, limits)

    def _cgroup(self, spec: RunSpec) -> Cgroup | None:
        limits = CgroupLimits(memory_mb=spec.memory_mb + HARNESS_OVERHEAD_MB, pids=spec.pids,
                              cpus=spec.cpus)
        try:
            return self._new_cgroup("run", limits)
        except CgroupUnavailable as exc:
            log.warning("cgroups unavailable, falling back to rlimits only: %s", exc)
            return None

    def _first_use(self, spec: RunSpec) -> None:
        """Before this backend's first sandbox: the uid settled, and what a killed worker left
        reclaimed."""
        self._settle_uid()
        if not self._swept:
            self._swept = True
            self._sweep(spec)

    def _preexec(self, group: Cgroup | None, *extra: tuple[int, int]) -> None:
        """In a sandbox's bwrap, before exec: join its cgroup (nothing of it lives outside), the
        rlimits every sandbox gets and `extra` (resource, limit) ones, then the sandbox uid."""
        if group is not None:
            group.join_self()
        for which, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256),
                             (resource.RLIMIT_CPU, WAITING_CPU_S), *extra):
            resource.setrlimit(which, (value, value))
        self._drop_privileges()

    # ---- starting sandboxes, handing them runs ----

    def _key(self, spec: RunSpec) -> tuple[object, ...]:
        """What a started sandbox is fixed to: everything set before its supervisor starts."""
        return (spec.memory_mb, spec.pids, spec.cpus, spec.tmp_mb, tuple(spec.gpus))

    def _start(self, spec: RunSpec, warm: bool = False) -> _Slot:
        """A sandbox whose supervisor imports torch and waits for a job in an empty job folder;
        a warm one (started ahead, from the warm thread) with the least CPU share."""
        self._first_use(spec)
        job_dir = make_job_dir(self._job_parent(spec), "run")
        group = self._cgroup(spec)
        low = warm and group is not None and group.set_cpu_low(True)
        if warm:
            self._low_ok = low
        filter_fd = seccomp.memfd_with(seccomp.sandbox_filter())

        extra = [(resource.RLIMIT_FSIZE, spec.tmp_mb << 20)]
        if group is None and self.drop_uid:
            # Without a pids cgroup, bound the sandbox uid's processes instead.
            extra.append((resource.RLIMIT_NPROC, spec.pids))

        def limits() -> None:
            self._preexec(group, *extra)

        try:
            started = start_with_channel(lambda fd: self.argv(spec, job_dir, fd, filter_fd), env=harness_env(),
                                         preexec=limits, extra_fds=(filter_fd,), stdin_pipe=True)
        except BaseException:
            os.close(filter_fd)
            self._clean(group, job_dir)
            raise
        return _Slot(self._key(spec), started, job_dir, group, filter_fd, time.monotonic(), low)

    def _sweep(self, spec: RunSpec) -> None:
        """Reclaim what a worker process of this host that was killed left: its job folders and
        its run cgroups (their names carry the owner's pid)."""
        folders = sum(sweep_job_dirs(p) for p in {spec.work_root, self._job_parent(spec)})
        groups = cgroups.sweep(owner_dead, root=self.cgroup_root or cgroups.CGROUP_ROOT)
        if folders or groups:
            log.warning("reclaimed %d job folder(s) and %d cgroup(s) left by a worker that died", folders, groups)

    @staticmethod
    def _clean(group: Cgroup | None, job_dir: Path) -> bool:
        """Kill whatever is left in the run's cgroup, remove it and the job folder; OOM-killed?"""
        oom = False
        if group is not None:
            oom = group.oom_killed()
            group.kill_all()
            group.remove()
        shutil.rmtree(job_dir, ignore_errors=True)
        return oom

    def _retire(self, slot: _Slot) -> None:
        if slot.started.proc.stdin is not None:
            try:
                slot.started.proc.stdin.close()  # a waiting supervisor exits on EOF
            except OSError:
                pass
        if slot.alive():
            try:
                os.killpg(slot.started.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        slot.started.proc.wait()
        os.close(slot.filter_fd)
        os.close(slot.started.result_r)
        self._clean(slot.group, slot.job_dir)

    def _take(self, spec: RunSpec) -> _Slot | None:
        """A warm sandbox for this shape of run, if one is ready (stale or dead ones retired)."""
        now = time.monotonic()
        slot, old = take_warm(self._lock, self._slots, self._starting, self._key(spec),
                              lambda s: not s.alive() or now - s.born > WARM_MAX_IDLE_S)
        for s in old:
            self._retire(s)
        return slot

    # ---- zygotes ----

    def zygotes_on(self) -> bool:
        """Whether runs go to zygotes (warm sandboxes that serve many runs)."""
        return bool(self.warm) and self.zygote_off is None

    def _turn_zygotes_off(self, why: str) -> None:
        if self.zygote_off is None:
            self.zygote_off = why
            log.warning("zygotes off, warm sandboxes are single-use from now: %s", why)

    @staticmethod
    def _zkey(spec: RunSpec) -> tuple[object, ...]:
        """What a zygote is fixed to: its GPUs (every limit is its runs' own cgroup's)."""
        return (tuple(spec.gpus),)

    def _start_zygote(self, spec: RunSpec) -> _Zygote:
        """A zygote for this shape of run, once it has imported torch and said `ready`.
        CgroupUnavailable where there is no cgroup to hold it (no zygotes on this host)."""
        self._first_use(spec)
        group = self._new_cgroup("zygote", CgroupLimits(memory_mb=ZYGOTE_MEMORY_MB, pids=ZYGOTE_PIDS, cpus=1.0))
        group.set_cpu_low(True)  # its import only gets a core no run wants
        jobs_dir = make_job_dir(self._job_parent(spec), "zygote")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        err_r, err_w = os.pipe()

        try:
            proc = subprocess.Popen(
                self.zygote_argv(spec.gpus, jobs_dir, theirs.fileno()), stdin=subprocess.DEVNULL,
                stdout=err_w, stderr=err_w, env=harness_env(), pass_fds=(theirs.fileno(),),
                start_new_session=True, preexec_fn=lambda: self._preexec(group), close_fds=True)
        except BaseException:
            for fd in (err_r, err_w):
                os.close(fd)
            ours.close()
            theirs.close()
            self._clean(group, jobs_dir)
            raise
        theirs.close()
        os.close(err_w)
        tail = TailReader(err_r, 16 << 10)
        tail.start()
        zygote = _Zygote(self._zkey(spec), proc, ours, group, jobs_dir, tail, time.monotonic())
        if not _said(ours, b"ready", ZYGOTE_START_S):
            self._end_zygote(zygote)
            raise RuntimeError("the zygote did not start: " + tail.text()[-400:])
        group.set_cpu_low(False)  # its forks (page tables copied here) must not wait for a core
        return zygote

    def _end_zygote(self, zygote: _Zygote) -> None:
        """Stop a zygote and whatever it holds (it exits when its socket closes)."""
        zygote.ctl.close()
        try:
            os.killpg(zygote.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        zygote.proc.wait()
        zygote.tail.join(timeout=2)
        self._clean(zygote.group, zygote.jobs_dir)

    def _retire_zygote(self, zygote: _Zygote) -> None:
        self._end_zygote(zygote)
        with self._lock:
            self._zlive[zygote.key] -= 1

    def _start_zygotes(self, spec: RunSpec) -> None:
        """From the warm thread: start one zygote of this shape if it has fewer than `warm`."""
        key = self._zkey(spec)
        with self._lock:
            if self._zlive[key] + self._zstarting[key] >= self.warm:
                return
            self._zstarting[key] += 1
        zygote: _Zygote | None = None
        try:
            zygote = self._start_zygote(spec)
            self._zfailures = 0
        except CgroupUnavailable as exc:
            self._turn_zygotes_off(f"no cgroup to hold one: {exc}")
        except Exception as exc:  # noqa: BLE001 - the next run starts cold and says why
            self._zfailures += 1
            log.warning("could not start a zygote: %s", exc)
            if self._zfailures >= ZYGOTE_FAILURES:
                self._turn_zygotes_off(f"{self._zfailures} zygotes in a row did not start")
        if zygote is not None:
            with self._lock:
                self._zlive[key] += 1
        for old in shelve(self._lock, self._zygotes, self._zstarting, key, zygote, WARM_SHAPES * self.warm):
            self._retire_zygote(old)

    def _run_in_zygote(self, zygote: _Zygote, spec: RunSpec, job: Job) -> RunResult | None:
        """Hand the run to an idle zygote: its fork joins the run's own cgroup, isolates itself,
        runs the job. None when the zygote could not take it (then it is retired, and where the
        kernel refused the fork its isolation, zygotes are turned off): the run starts cold."""
        group = self._cgroup(spec)
        if group is None:
            self._release_zygote(zygote)
            return None
        job_dir = make_job_dir(zygote.jobs_dir, "run")
        fill_job_dir(job_dir, spec, job)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        result_r, result_w = wide_pipe()
        err_r, err_w = os.pipe()
        reply = b""
        try:
            socket.send_fds(zygote.ctl, [json.dumps(_order(job_dir, spec)).encode()],
                            [theirs.fileno(), result_w, err_w])
            ours.settimeout(ZYGOTE_REPLY_S)
            _, ancillary, _, _ = ours.recvmsg(16, socket.CMSG_SPACE(12))
            group.add(_sender_pid(ancillary))  # before the fork reads its job or forks again
            ours.send(b"go")
            reply = ours.recv(512)
        except OSError as exc:
            log.warning("a zygote did not take its run: %s", exc)
        finally:
            theirs.close()
            os.close(result_w)
            os.close(err_w)
            ours.close()
        if reply != b"ok":
            os.close(result_r)
            os.close(err_r)
            self._retire_zygote(zygote)
            self._clean(group, job_dir)
            if reply.startswith(b"fail "):
                self._turn_zygotes_off("a run could not isolate itself: " + reply[5:].decode(errors="replace"))
            return None
        self.last_cgroup_version = group.version
        self.last_cgroup_dirs = [str(d) for d in group.dirs.values()]
        tail = TailReader(err_r, 64 << 10)
        tail.start()
        exited = _ZygoteExit(zygote.ctl)
        result = watch_run(exited, result_r, tail, spec, group.kill_all, group.cpu_usage_ns)
        # Whatever the run left dies with its cgroup; the zygote reaps it and says `clean`.
        group.kill_all()
        clean = not exited.lost and _said(zygote.ctl, b"clean", ZYGOTE_CLEAN_S)
        result.oom_killed = self._clean(group, job_dir)
        if clean and zygote.alive():
            self._release_zygote(zygote)
        else:
            self.zygotes_lost += 1
            log.warning("a zygote did not come clean after a run (retired): %s", zygote.tail.text()[-300:])
            self._retire_zygote(zygote)
        return result

    def _release_zygote(self, zygote: _Zygote) -> None:
        with self._lock:
            self._zygotes.setdefault(zygote.key, []).append(zygote)
            self._lock.notify_all()

    def _take_zygote(self, spec: RunSpec) -> _Zygote | None:
        """An idle zygote for this shape of run (waiting for one being started), or None."""
        zygote, dead = take_warm(self._lock, self._zygotes, self._zstarting, self._zkey(spec),
                                 lambda z: not z.alive())
        for z in dead:
            self.zygotes_lost += 1
            self._retire_zygote(z)
        return zygote

    def _warm_loop(self) -> None:
        """The one long-lived thread that starts warm sandboxes: bubblewrap dies with the thread
        that started it (--die-with-parent), so none may be started by a passing thread."""
        while True:
            spec = self._starts.get()
            if self.zygotes_on():
                self._start_zygotes(spec)
                if self.zygotes_on():
                    continue
            key = self._key(spec)
            if not self._low_ok:
                self._wait_quiet()
            with self._lock:
                if len(self._slots.get(key, [])) >= self.warm:
                    continue
                self._starting[key] += 1
            slot: _Slot | None = None
            try:
                slot = self._start(spec, warm=True)
            except Exception as exc:  # noqa: BLE001 - the next run starts cold and says why
                log.warning("could not start a warm sandbox: %s", exc)
            for old in shelve(self._lock, self._slots, self._starting, key, slot, WARM_SHAPES * self.warm):
                self._retire(old)

    def _wait_quiet(self) -> None:
        while True:
            with self._lock:
                if not self._active and time.monotonic() - self._idle_since >= WARM_QUIET_S:
                    return
            time.sleep(0.02)

    def _refill(self, spec: RunSpec) -> None:
        if not self.warm:
            return
        with self._lock:
            if self._warmer is None:
                self._warmer = threading.Thread(target=self._warm_loop, name="warm-sandboxes", daemon=True)
                self._warmer.start()
                atexit.register(self.close)  # their job folders and cgroups go with us
        self._starts.put(spec)

    def prestart(self, spec: RunSpec) -> None:
        """Start this shape of run's warm sandboxes now (a worker does it once at start-up)."""
        for _ in range(self.warm):
            self._refill(spec)

    def starting(self) -> int:
        """How many warm sandboxes are being started now."""
        with self._lock:
            return sum(self._starting.values())

    def waiting(self) -> list[tuple[int, Path]]:
        """(bwrap pid, job folder) of every warm sandbox that has not been handed a run, and of
        every idle zygote (its folder of job folders); waits for those being started first."""
        wait_for_starts(self._starting, self._zstarting)
        with self._lock:
            return ([(s.started.proc.pid, s.job_dir) for group in self._slots.values() for s in group]
                    + [(z.proc.pid, z.jobs_dir) for group in self._zygotes.values() for z in group])

    def close(self) -> None:
        """Retire every warm sandbox and every idle zygote."""
        wait_for_starts(self._starting, self._zstarting)  # one being started now is retired too, once up
        with self._lock:
            slots = [s for group in self._slots.values() for s in group]
            self._slots.clear()
            zygotes = [z for group in self._zygotes.values() for z in group]
            self._zygotes.clear()
        for slot in slots:
            self._retire(slot)
        for zygote in zygotes:
            self._retire_zygote(zygote)

    def run(self, spec: RunSpec) -> RunResult:
        """Hand the run to a started sandbox (a warm one, else one started now); wall time
        enforced from outside from the moment it is handed over; cgroup cleaned after."""
        if not self.bwrap:
            raise BubblewrapUnavailable("bubblewrap (bwrap) is not installed")
        self._settle_uid()
        # In its own pid namespace (--as-pid-1), the supervisor may kill whatever is left.
        job = replace(spec.job, workdir="/tmp", isolated=True, install_seccomp=False)
        with self._lock:
            self._active += 1
        try:
            return self._run(spec, job)
        finally:
            with self._lock:
                self._active -= 1
                self._idle_since = time.monotonic()

    def _run(self, spec: RunSpec, job: Job) -> RunResult:
        if self.zygotes_on():
            zygote = self._take_zygote(spec)
            if zygote is not None and (result := self._run_in_zygote(zygote, spec, job)) is not None:
                self.warm_hits += 1
                return result
            self._refill(spec)  # every zygote of this shape was busy, or one failed: one more
        slot = None if self.zygotes_on() else self._take(spec)
        if slot is not None:
            self.warm_hits += 1
            if slot.low and slot.group is not None:
                slot.group.set_cpu_low(False)  # a run's now: the normal share, import done or not
        else:
            slot = self._start(spec)
        self.last_cgroup_version = slot.group.version if slot.group else None
        self.last_cgroup_dirs = [str(d) for d in slot.group.dirs.values()] if slot.group else []
        if not self.zygotes_on():
            self._refill(spec)
        try:
            fill_job_dir(slot.job_dir, spec, job)
            stdin = slot.started.proc.stdin
            assert stdin is not None
            try:
                stdin.write(f"go {int(spec.wall_time_s) + 5}\n".encode())
                stdin.close()
            except (BrokenPipeError, OSError):
                pass  # it died waiting: the run reads an empty channel and says so
            result = watch(slot.started, spec, slot.group.cpu_usage_ns if slot.group else None)
        finally:
            os.close(slot.filter_fd)
            oom = self._clean(slot.group, slot.job_dir)
        if slot.group is not None:
            result.oom_killed = oom
        return result
