"""Checks of the host after a hostile run: no leftover processes, no files outside the sandbox."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

MARKERS = ("tj-redteam", "tjrt-")
STAGING_ROOT = Path(tempfile.gettempdir()) / "tensorjudge-sandbox"  # the process backend's job folders


def leftover_processes(data_dir: Path, waiting: set[int] | frozenset[int] = frozenset()) -> list[str]:
    """Processes a hostile run left: renamed ones (tjrt-*), or any whose command line still
    names this run's data dir or the sandbox's staging folder (bwrap does), except the warm
    sandboxes in `waiting` (started ahead for the next runs, handed nothing yet). The backend's
    cgroup check covers the rest."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (me, *waiting):
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError, ValueError):
            continue
        if state == "Z" or _waiting_sandbox(entry):
            continue
        if comm.startswith("tjrt-") or str(data_dir) in cmdline or str(STAGING_ROOT) in cmdline:
            found.append(f"{entry.name} {comm} {cmdline[:120]}")
    return found


def _waiting_sandbox(entry: Path) -> bool:
    """Not a leftover: a bubblewrap started ahead that has not been handed a run (its /job is an
    existing, empty folder; a finished run's folder is gone), an idle zygote (its /jobs is an
    existing, empty folder), or one of another live process
    (a second test run or a server on this machine; job folders are named after their owner).
    A sandbox whose owner is this process or a dead one, and that holds a job, is a leftover."""
    try:
        args = (entry / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not args or not args[0].endswith(b"bwrap") or b"/job" not in args:
        return False
    # A zygote binds its folder of job folders at /jobs (and makes /job an empty mount point):
    # idle, that folder is empty; serving a run, it holds the run's job folder.
    target = b"/jobs" if b"/jobs" in args else b"/job"
    source = Path(args[args.index(target) - 1].decode(errors="replace"))
    owner = source.name.split("-")[3] if source.name.count("-") >= 4 else ""
    if owner.isdigit() and int(owner) != os.getpid() and Path(f"/proc/{owner}").exists():
        return True
    try:
        return source.is_dir() and not any(source.iterdir())
    except OSError:
        return False


def wait_no_leftovers(data_dir: Path, timeout_s: float = 3.0,
                      waiting: set[int] | frozenset[int] = frozenset()) -> list[str]:
    """Leftovers still there after a short grace (the kernel reaps asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = leftover_processes(data_dir, waiting)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def stray_files(*roots: Path) -> list[str]:
    """Files whose names carry a red-team marker anywhere under the given folders."""
    hits = []
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath.count(os.sep) - str(root).count(os.sep) > 3:
                dirnames.clear()
                continue
            for name in filenames + dirnames:
                if name.startswith(MARKERS):
                    hits.append(os.path.join(dirpath, name))
    return hits


def host_roots(data_dir: Path) -> list[Path]:
    """Where a sandbox escape would most likely leave files."""
    return [Path(tempfile.gettempdir()), Path.cwd(), Path.home(), data_dir]
