"""Starting real Celery worker processes for the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.settings import REPO_ROOT, Settings


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a subprocess see exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORJUDGE_")}
    env.update(
        TENSORJUDGE_ENV=settings.env,
        TENSORJUDGE_DATA_DIR=str(settings.data_dir),
        TENSORJUDGE_PROBLEMS_DIR=str(settings.problems_dir),
        TENSORJUDGE_DATABASE_URL=settings.database_url,
        TENSORJUDGE_BROKER_URL=settings.broker_url,
        TENSORJUDGE_SECRET_KEY=settings.secret_key,
        TENSORJUDGE_SANDBOX=settings.sandbox,
        TENSORJUDGE_GRADER=settings.grader,
        TENSORJUDGE_TASK_MAX_RETRIES=str(settings.task_max_retries),
        TENSORJUDGE_TASK_RETRY_BACKOFF_S=str(settings.task_retry_backoff_s),
        TENSORJUDGE_BROKER_VISIBILITY_TIMEOUT_S=str(settings.broker_visibility_timeout_s),
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


def start_worker(
    settings: Settings, name: str, log: Path, queues: str = "cpu,gpu", **extra: str
) -> subprocess.Popen[bytes]:
    """`celery worker` in its own process group (so a test can SIGKILL all of it)."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        queues,
        "-c",
        "1",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "INFO",
    ]
    with log.open("ab") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=settings_env(settings, **extra),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the worker and every process it started."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    """Poll `check` until it holds, or fail the test saying what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
