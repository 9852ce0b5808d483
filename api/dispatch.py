"""Handing grading jobs to the broker (by task name: the API never imports the worker).

Every call to a network broker is bounded by broker_publish_timeout_s, retries included: a
Redis that is down refuses at once, but a frozen one (SIGSTOP, a swapped-out host) accepts
connections and never answers, and a request must not wait on it for longer than that. The
call runs on a small thread pool and the request stops waiting at the deadline (a 503; the row
is already stored and the sweeper re-sends its turn); socket timeouts of the same length free
the thread soon after."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, TypeVar

from celery import Celery
from kombu.connection import Connection

from core.services import fs_transport
from core.services.broker import GRADE_TASK, VALIDATE_TASK, broker_url, celery_config, is_embedded
from core.services.submissions import Job
from core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class BrokerTimeout(TimeoutError):
    """The broker did not answer within broker_publish_timeout_s."""


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
        self.timeout_s = settings.broker_publish_timeout_s
        self.app = Celery("tensorjudge-api")
        config = celery_config(settings)
        if not is_embedded(settings):
            # The producer's sockets give up as soon as a request would (the worker keeps its own).
            config["broker_transport_options"] = {**config["broker_transport_options"],
                                                  "socket_timeout": self.timeout_s,
                                                  "socket_connect_timeout": self.timeout_s}
        self.app.conf.update(config)
        self._pool: ThreadPoolExecutor | None = None

    def _bounded(self, call: Callable[[], T]) -> T:
        """Run one broker call, waiting at most timeout_s for it (the embedded broker writes a
        local file and is called directly)."""
        if is_embedded(self.settings):
            return call()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tj-publish")
        future = self._pool.submit(call)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            future.cancel()  # still waiting for a thread: it never runs
            raise BrokerTimeout(f"the broker did not answer within {self.timeout_s:g} s") from None

    def _send(self, name: str, args: list[Any], queue: str) -> None:
        self.app.send_task(
            name, args=args, queue=queue, retry=True,
            # A refused connection is retried briefly; _bounded caps the whole call.
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.3, "interval_max": 1},
        )

    def enqueue(self, job: Job) -> None:
        """Publish the task, within broker_publish_timeout_s (else BrokerTimeout)."""
        self._bounded(lambda: self._send(GRADE_TASK, [job.submission_id, job.job], job.queue))

    def validate(self, version_id: int, queue: str) -> None:
        """Publish a validation task for a stored problem version, within the same bound."""
        self._bounded(lambda: self._send(VALIDATE_TASK, [version_id], queue))

    def _connect_once(self) -> None:
        opts = self.app.conf.broker_transport_options
        conn = Connection(broker_url(self.settings), transport_options=opts,  # type: ignore[no-untyped-call]
                          connect_timeout=self.timeout_s)
        with conn as c:
            c.ensure_connection(max_retries=1, timeout=self.timeout_s)

    def ping(self) -> bool:
        """Whether the broker answers a connection (and its first command) within
        broker_publish_timeout_s."""
        if is_embedded(self.settings):
            queue = self.settings.data_dir / "broker" / "queue"
            return queue.is_dir()
        try:
            self._bounded(self._connect_once)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means not reachable
            log.warning("broker unreachable: %s", exc)
            return False
