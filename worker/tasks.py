"""The grading task: ids in, one verdict out, however often the message is delivered."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from core.db.base import session_scope
from core.errors import InfrastructureError
from core.services import judging, problems
from core.services.broker import GRADE_TASK, VALIDATE_TASK
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


@app.task(  # type: ignore[untyped-decorator]
    name=VALIDATE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def validate_version(version_id: int) -> bool:
    """Validate an uploaded problem version (idempotent: the report is simply rewritten)."""
    settings = get_settings()
    with session_scope(settings.effective_database_url) as session:
        return bool(problems.validate_version(session, settings, version_id).get("ok", False))
