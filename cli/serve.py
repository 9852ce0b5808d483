"""`tensorjudge serve`: the embedded default (SQLite, filesystem broker, one worker)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from core.settings import REPO_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from core.services.bootstrap import DemoAccount
    from core.services.reconciler import LifeCycleThread


def prepare(settings: Settings) -> None:
    """Migrate the database, publish the bundled problems, print the demo accounts."""
    from core.db.base import session_scope
    from core.db.migrate import upgrade
    from core.services import bootstrap

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    with session_scope(settings.effective_database_url) as session:
        slugs = bootstrap.publish_bundled(session, settings.problems_dir)
        accounts = bootstrap.demo_accounts(session, settings)
    typer.echo(f"Problems: {', '.join(slugs) or '(none)'}")
    typer.echo("Demo accounts:")
    typer.echo(demo_table(accounts))


def demo_table(accounts: list[DemoAccount]) -> str:
    """The demo accounts as a table whose header names each of its four columns."""
    rows = [("role", "name", "password", "API token")] + [(a.role, a.name, a.password, a.token) for a in accounts]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  " + "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
                     for r in rows)


def worker_command(settings: Settings) -> list[str]:
    """The worker process `serve` runs: the production task code on the embedded broker."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        "cpu,gpu",
        "-c",
        str(settings.concurrency),
        "-n",
        "embedded@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]


class WorkerSupervisor:
    """Runs the worker subprocess and restarts it if it dies (until stopped)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.env = {
            **os.environ,
            "TENSORJUDGE_DATA_DIR": str(settings.data_dir),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }

    def start(self) -> None:
        """Start the worker and a thread that restarts it when it exits."""
        self._spawn()
        threading.Thread(target=self._watch, name="worker-supervisor", daemon=True).start()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(
            worker_command(self.settings),
            cwd=REPO_ROOT,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _watch(self) -> None:
        while not self.stopping.wait(1.0):
            if self.proc is not None and self.proc.poll() is not None:
                typer.echo(f"worker exited with {self.proc.returncode}; restarting", err=True)
                time.sleep(1.0)
                if not self.stopping.is_set():
                    self._spawn()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL after 15 s."""
        self.stopping.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _die_with_parent() -> None:
    # uvicorn re-raises SIGTERM/SIGINT after its shutdown, so `serve` may die before its
    # cleanup runs: have the kernel send the worker SIGTERM when `serve` goes away.
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def requeue_unfinished(settings: Settings) -> int:
    """Send every queued/running submission to the broker again (duplicates are harmless:
    a task for a finished or superseded job does nothing)."""
    from api.dispatch import CeleryDispatcher
    from core.db.base import session_scope
    from core.services.submissions import unfinished_jobs

    with session_scope(settings.effective_database_url) as session:
        jobs = unfinished_jobs(session)
    dispatcher = CeleryDispatcher(settings)
    for job in jobs:
        dispatcher.enqueue(job)
    return len(jobs)


def start_sweeper(settings: Settings) -> LifeCycleThread:
    """The sweeper in this process too (it runs where it holds the lease: here or a worker)."""
    from api.dispatch import CeleryDispatcher
    from core.logs import configure
    from core.services.reconciler import LifeCycleThread

    configure(settings, logging.WARNING)
    thread = LifeCycleThread(settings, CeleryDispatcher(settings).enqueue)
    thread.start()
    return thread


def serve_command(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on", min=1, max=65535)] = None,
    worker: Annotated[bool, typer.Option(help="also run the grading worker")] = True,
) -> None:
    """Run the API, the pages and one grading worker on this machine (SQLite, no Redis)."""
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    prepare(settings)
    requeued = requeue_unfinished(settings)
    if requeued:
        typer.echo(f"Requeued {requeued} unfinished submission(s).")
    supervisor = WorkerSupervisor(settings) if worker else None
    if supervisor:
        supervisor.start()
    reconciler = start_sweeper(settings)
    typer.echo(f"TensorJudge on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        reconciler.stop()
        if supervisor:
            supervisor.stop()
