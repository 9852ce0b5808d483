"""Per worker process: the heartbeat and sweeper thread, started in every pool process (and
lazily by the first task, for pools that do not fork), stopped at a clean shutdown."""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Any

from celery import signals

from core.services import judging
from core.services.broker import GRADE_TASK, QUEUES, visibility_problem
from core.services.reconciler import LifeCycleThread
from core.services.sandbox_info import describe
from core.services.submissions import Job
from core.settings import get_settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {"thread": None, "queues": ",".join(QUEUES)}


@signals.celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _remember_queues(sender: Any = None, instance: Any = None, **_: Any) -> None:
    # Runs in the main process before the pool forks: the children inherit what -Q says.
    try:
        _state["queues"] = ",".join(sorted(instance.app.amqp.queues.consume_from)) or _state["queues"]
    except AttributeError:
        pass
    if (problem := visibility_problem(get_settings())) is not None:
        log.warning("%s", problem)


@cache
def _sandbox() -> dict[str, Any]:
    return describe(get_settings())


def publish_turn(job: Job) -> None:
    """Send a grading turn for a queue (the sweeper's publish)."""
    from worker.celery_app import app

    app.send_task(
        GRADE_TASK, args=[job.submission_id, job.job], queue=job.queue, retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.3, "interval_max": 1},
    )


def start() -> LifeCycleThread:
    """The running life-cycle thread of this process (started on first call)."""
    with _lock:
        thread: LifeCycleThread | None = _state["thread"]
        if thread is None or not thread.is_alive():
            thread = LifeCycleThread(get_settings(), publish_turn, queues=_state["queues"],
                                     busy=judging.busy_submission, sandbox=_sandbox)
            thread.start()
            _state["thread"] = thread
        return thread


def identity() -> str:
    """This process's heartbeat name (the holder recorded with every claim)."""
    return start().identity


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _child_started(**_: Any) -> None:
    _state["thread"] = None  # a forked child never inherits its parent's thread
    start()


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _child_stopping(**_: Any) -> None:
    thread: LifeCycleThread | None = _state["thread"]
    if thread is not None:
        thread.stop(forget=True)
