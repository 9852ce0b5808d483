"""The tasks: grading (ids in, one verdict out, however often the message is delivered) and
package validation."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from core.db.base import session_scope
from core.errors import InfrastructureError
from core.services import judging, packages
from core.services.broker import GRADE_TASK, VALIDATE_TASK, task_time_limits_s
from core.settings import get_settings
from worker.celery_app import app

log = logging.getLogger(__name__)
_settings = get_settings()


@app.task(  # type: ignore[untyped-decorator]
    bind=True,
    name=GRADE_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=_settings.task_max_retries,
    ignore_result=True,
)
def grade_submission(self: Task, submission_id: int, job: int) -> str:
    """Grade one submission. Infrastructure failures are retried with exponential backoff;
    after the last retry the submission ends `failed` with verdict system_error."""
    settings = get_settings()
    worker = f"{self.request.hostname or 'worker'}:{self.request.id}"
    try:
        return judging.run_job(settings, submission_id, job, worker).value
    except (InfrastructureError, SoftTimeLimitExceeded) as exc:
        retries = self.request.retries
        if retries >= (self.max_retries or 0):
            log.error("submission %s: giving up after %s retries: %s", submission_id, retries, exc)
            with session_scope(settings.effective_database_url) as session:
                judging.fail(session, submission_id, job, f"judge error after retries: {exc}")
            return judging.Outcome.FAILED.value
        countdown = settings.task_retry_backoff_s * (2**retries)
        raise self.retry(exc=exc, countdown=countdown) from exc


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
