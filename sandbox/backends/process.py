"""The process sandbox: bubblewrap namespaces around the harness.

Fresh user/pid/net/ipc/uts/cgroup namespaces, a read-only view of the system and the Python
environment, a private size-capped /tmp, no network, all capabilities dropped, a clean
environment, rlimits, and a hard wall-clock kill of the whole process group from outside.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
from pathlib import Path

from sandbox.backends.base import (
    HARNESS_ROOT,
    RunResult,
    RunSpec,
    harness_env,
    run_with_channel,
)

JOB_INSIDE = "/job"
JUDGE_INSIDE = "/judge"


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


class ProcessSandbox:
    """bubblewrap-based isolation for development, CI and single-machine installs."""

    name = "process"

    def __init__(self, uid: int = 65534) -> None:
        self.bwrap = find_bwrap()
        self.uid = uid

    def available(self) -> tuple[bool, str]:
        """Whether bwrap exists and can create the namespaces we need here."""
        if not self.bwrap:
            return False, "bubblewrap (bwrap) is not installed"
        import subprocess

        probe = subprocess.run(
            [self.bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", *self._system_links(),
             "--proc", "/proc", "--dev", "/dev", "/usr/bin/true"],
            capture_output=True, timeout=30,
        )
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

    def inside_job_dir(self, job_dir: Path) -> str:
        """Where the job directory appears inside the sandbox."""
        return JOB_INSIDE

    def argv(self, spec: RunSpec, result_fd: int) -> list[str]:
        """The bwrap command line for one run."""
        assert self.bwrap
        args = [
            self.bwrap,
            "--unshare-all",
            "--uid", str(self.uid), "--gid", str(self.uid),
            "--hostname", "sandbox",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr",
        ]
        args += self._system_links()
        for etc in ("/etc/ld.so.cache", "/etc/localtime"):
            if os.path.exists(etc):
                args += ["--ro-bind", etc, etc]
        for root in _python_roots():
            args += ["--ro-bind", root, root]
        args += [
            "--ro-bind", str(HARNESS_ROOT / "sandbox"), f"{JUDGE_INSIDE}/sandbox",
            "--ro-bind", str(spec.job_dir), JOB_INSIDE,
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", str(spec.tmp_mb << 20), "--tmpfs", "/tmp",
            "--chdir", "/tmp",
            "--clearenv",
        ]
        for key, value in harness_env({"PYTHONPATH": JUDGE_INSIDE}).items():
            args += ["--setenv", key, value]
        args += [
            sys.executable, "-m", "sandbox.harness.supervisor",
            f"{JOB_INSIDE}/job.json", str(result_fd),
        ]
        return args

    def run(self, spec: RunSpec) -> RunResult:
        """Run the harness under bwrap with rlimits; wall time enforced from outside."""
        if not self.bwrap:
            raise BubblewrapUnavailable("bubblewrap (bwrap) is not installed")

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (spec.tmp_mb << 20, spec.tmp_mb << 20))
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
            cpu = int(spec.wall_time_s) + 5
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

        return run_with_channel(
            lambda fd: self.argv(spec, fd), spec, env=harness_env(), preexec=limits
        )
