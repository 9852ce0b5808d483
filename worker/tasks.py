"""The tasks: grading (ids in, one verdict out, however often the message is delivered) and
package validation."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from core.db.base import session_scope
from core.db.models import Submission
from core.errors import InfrastructureError
from core.logs import bind_submission, unbind_submission
from core.services import judging, packages
from core.services.broker import GRADE_TASK, QUEUES, VALIDATE_TASK, task_time_limits_s
from core.settings import get_settings
from worker import lifecycle
from worker.celery_app import app

log = logging.getLogger(__name__)
_settings = get_settings()
# Retries of one turn (a database or broker outage); a submission's own budget of
# infrastructure failures is task_max_retries, counted on its row.
_TURN_RETRIES = 50


@app.task(  # type: ignore[untyped-decorator]
    bind=True,
    name=GRADE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=_TURN_RETRIES,
    ignore_result=True,
)
def grade_submission(self: Task, submission_id: int, job: int) -> str:
    """One turn of a queue: claim the next submission there by the fair policy and grade it
    (the message's own submission is only a hint of the queue). Infrastructure failures are
    retried with exponential backoff; after task_max_retries of them the submission ends
    `failed` with verdict system_error. A database outage postpones the turn."""
    settings = get_settings()
    worker = f"{self.request.hostname or 'worker'}:{self.request.id}"
    queue = _queue_of(self.request.delivery_info or {}, submission_id)
    token = bind_submission(submission_id)
    try:
        outcome, graded = judging.serve_turn(settings, queue, worker, lifecycle.identity())
        log.info("turn on %s: %s submission %s", queue, outcome.value, graded)
        return outcome.value
    except (InfrastructureError, SoftTimeLimitExceeded) as exc:
        retries = self.request.retries
        if retries >= _TURN_RETRIES:
            log.error("turn on %s: giving up after %s retries: %s (the sweeper re-sends queued work)",
                      queue, retries, exc)
            return judging.Outcome.FAILED.value
        countdown = min(60.0, settings.task_retry_backoff_s * (2**min(retries, 6))) + 1.0
        raise self.retry(exc=exc, countdown=countdown) from exc
    finally:
        unbind_submission(token)


def _queue_of(delivery_info: dict[str, Any], submission_id: int) -> str:
    routing_key = str(delivery_info.get("routing_key") or "")
    if routing_key in QUEUES:
        return routing_key
    with session_scope(get_settings().effective_database_url) as session:
        sub = session.get(Submission, submission_id)
        return sub.queue if sub is not None else "cpu"


# Validation grades the reference and every known solution, each bounded like one grading
# task: give it the limits of that many tasks (a package rarely ships more solutions).
_VALIDATION_TASKS = 12
_soft_s, _hard_s = task_time_limits_s(_settings)


@app.task(  # type: ignore[untyped-decorator]
    name=VALIDATE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=_VALIDATION_TASKS * _soft_s,
    time_limit=_VALIDATION_TASKS * _soft_s + (_hard_s - _soft_s),
)
def validate_version(version_id: int) -> bool:
    """Validate a staged problem version; every upload and browser edit comes here, from the
    API and from the pages alike. Idempotent: a redelivery rewrites the same report."""
    settings = get_settings()
    with session_scope(settings.effective_database_url) as session:
        return bool(packages.run_validation(session, settings, version_id).get("ok", False))
