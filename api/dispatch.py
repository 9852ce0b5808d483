"""Handing grading jobs to the broker (by task name: the API never imports the worker)."""

from __future__ import annotations

import logging
from typing import Protocol

from celery import Celery
from kombu.connection import Connection

from core.services import fs_transport
from core.services.broker import GRADE_TASK, VALIDATE_TASK, broker_url, celery_config, is_embedded
from core.services.submissions import Job
from core.settings import Settings

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Something that enqueues grading jobs and can tell whether its broker is reachable."""

    def enqueue(self, job: Job) -> None:
        """Send one job (called only after the submission is committed)."""

    def validate(self, version_id: int, queue: str) -> None:
        """Ask a worker to validate a stored problem version."""

    def ping(self) -> bool:
        """Whether the broker answers."""


class CeleryDispatcher:
    """Sends `tensorjudge.grade(submission_id, job)` to the job's queue."""

    def __init__(self, settings: Settings) -> None:
        fs_transport.register()
        self.settings = settings
        self.app = Celery("tensorjudge-api")
        self.app.conf.update(celery_config(settings))

    def enqueue(self, job: Job) -> None:
        """Publish the task; retries the connection briefly before giving up."""
        self.app.send_task(
            GRADE_TASK,
            args=[job.submission_id, job.job],
            queue=job.queue,
            retry=True,
            # Bounded: a few seconds at most before the caller answers 503 (the row is stored).
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.3, "interval_max": 1},
        )

    def validate(self, version_id: int, queue: str) -> None:
        """Publish a validation task for a stored problem version."""
        self.app.send_task(VALIDATE_TASK, args=[version_id], queue=queue, retry=True)

    def ping(self) -> bool:
        """Connect to the broker once with a short timeout."""
        if is_embedded(self.settings):
            queue = self.settings.data_dir / "broker" / "queue"
            return queue.is_dir()
        try:
            opts = self.app.conf.broker_transport_options
            conn = Connection(broker_url(self.settings), transport_options=opts, connect_timeout=2)  # type: ignore[no-untyped-call]
            with conn as c:
                c.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means not reachable
            log.warning("broker unreachable: %s", exc)
            return False
