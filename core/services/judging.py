"""The worker side of a submission: claim, grade, report progress, write the result once.

Idempotency: a task message carries (submission id, job). Claiming bumps `attempts` and sets
a fresh `claim` token with one conditional UPDATE; progress and the final result are written
only `WHERE claim = <my token>`, and the final write replaces every case result in the same
transaction as the verdict. A redelivered message (worker killed, visibility timeout) simply
claims again and takes over; a stale one (older job, or submission already done) is dropped.
"""

from __future__ import annotations

import importlib
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from core.db.base import session_scope, utcnow
from core.db.models import CaseResult, ProblemVersion, Submission, SubmissionStatus
from core.errors import InfrastructureError, ProblemError
from core.jsonsafe import json_safe
from core.report import GradeReport
from core.services.problems import load_version
from core.settings import Settings
from core.verdicts import MESSAGES, Verdict

log = logging.getLogger(__name__)

Grader = Callable[..., GradeReport]


class Outcome(StrEnum):
    """What handling one task message did."""

    DONE = "done"
    STALE = "stale"  # nothing to do: superseded job, or already finished
    LOST = "lost"  # another delivery took the claim over while we graded
    FAILED = "failed"


@dataclass(frozen=True)
class Claim:
    """Ownership of one grading attempt."""

    submission_id: int
    job: int
    token: str
    attempts: int


_OPEN = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING)


def claim(session: Session, submission_id: int, job: int, worker: str) -> Claim | None:
    """Take over a submission's current job (commits); None when the message is stale."""
    token = secrets.token_hex(16)
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.job == job, Submission.status.in_(_OPEN))
        .values(
            status=SubmissionStatus.RUNNING,
            claim=token,
            attempts=Submission.attempts + 1,
            worker=worker[:200],
            started_at=utcnow(),
            progress_done=0,
        )
        .returning(Submission.attempts)
    )
    attempts = result.scalar_one_or_none()
    session.commit()
    return None if attempts is None else Claim(submission_id, job, token, attempts)


def report_progress(session: Session, owner: Claim, done: int, total: int) -> None:
    """Record case `done` of `total` (commits; ignored once the claim is lost)."""
    session.execute(
        update(Submission)
        .where(Submission.id == owner.submission_id, Submission.claim == owner.token)
        .values(progress_done=done, progress_total=total)
    )
    session.commit()


def finish(session: Session, owner: Claim, report: GradeReport) -> bool:
    """Write the verdict and the case results in one transaction; False if the claim is lost."""
    now = utcnow()
    result = session.execute(
        update(Submission)
        .where(
            Submission.id == owner.submission_id,
            Submission.claim == owner.token,
            Submission.status == SubmissionStatus.RUNNING,
        )
        .values(
            status=SubmissionStatus.DONE,
            verdict=report.verdict.value,
            message=report.message[:2000],
            score=report.score,
            max_score=report.max_score,
            speed_ratio=report.speed_ratio if _finite(report.speed_ratio) else None,
            wall_s=report.wall_s,
            loading={"graded": report.graded, "notes": report.notes},
            progress_done=len(report.cases),
            progress_total=len(report.cases),
            finished_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.execute(delete(CaseResult).where(CaseResult.submission_id == owner.submission_id))
    for position, case in enumerate(report.cases):
        session.add(
            CaseResult(
                submission_id=owner.submission_id,
                position=position,
                name=case.name,
                visibility=case.visibility,
                verdict=case.verdict.value,
                points=case.points,
                max_points=case.max_points,
                message=case.message,
                feedback=json_safe(case.feedback),
                timings=json_safe(case.timings.model_dump(mode="json")) if case.timings else None,
                stdout=case.stdout,
            )
        )
    session.commit()
    return True


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def release(session: Session, owner: Claim, message: str) -> None:
    """Give a claim back after an infrastructure failure so that a retry can claim it."""
    session.execute(
        update(Submission)
        .where(Submission.id == owner.submission_id, Submission.claim == owner.token)
        .values(status=SubmissionStatus.QUEUED, claim=None, message=message[:2000])
    )
    session.commit()


def fail(session: Session, submission_id: int, job: int, message: str) -> bool:
    """Give up on a job: status failed, verdict system_error, no case results (commits)."""
    session.execute(delete(CaseResult).where(CaseResult.submission_id == submission_id))
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.job == job, Submission.status.in_(_OPEN))
        .values(
            status=SubmissionStatus.FAILED,
            verdict=Verdict.SYSTEM_ERROR.value,
            message=(message or MESSAGES[Verdict.SYSTEM_ERROR])[:2000],
            claim=None,
            finished_at=utcnow(),
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.commit()
    return True


def load_grader(spec: str) -> Grader:
    """The grading function named by `module:function` (settings.grader)."""
    module_name, _, attr = spec.partition(":")
    grader: Grader = getattr(importlib.import_module(module_name), attr or "grade")
    return grader


def run_job(
    settings: Settings,
    submission_id: int,
    job: int,
    worker: str,
    *,
    grader: Grader | None = None,
    max_attempts: int | None = None,
) -> Outcome:
    """Handle one task message end to end. InfrastructureError propagates (for a retry)
    after the claim has been released; every student fault is a verdict in the report."""
    url = settings.effective_database_url
    max_attempts = max_attempts or settings.task_max_attempts
    with session_scope(url) as session:
        owner = claim(session, submission_id, job, worker)
        if owner is None:
            return Outcome.STALE
        if owner.attempts > max_attempts:
            # A message that keeps killing its worker must not loop forever.
            fail(session, submission_id, job, f"gave up after {max_attempts} attempts")
            return Outcome.FAILED
        submission = session.get(Submission, submission_id)
        assert submission is not None
        version = session.get(ProblemVersion, submission.problem_version_id)
        assert version is not None
        files = {f.path: f.content for f in submission.files}
        try:
            problem = load_version(settings, version)
        except ProblemError as exc:
            fail(session, submission_id, job, f"problem package is broken: {exc}")
            return Outcome.FAILED

        def progress(done: int, total: int) -> None:
            with session_scope(url) as progress_session:
                report_progress(progress_session, owner, done, total)

        try:
            report = (grader or load_grader(settings.grader))(problem, files, settings=settings, progress=progress)
        except InfrastructureError as exc:
            log.warning("submission %s attempt %s: %s", submission_id, owner.attempts, exc)
            release(session, owner, f"judge error, retrying: {exc}")
            raise
        if report.verdict is Verdict.SYSTEM_ERROR:
            release(session, owner, report.message or "system error, retrying")
            raise InfrastructureError(report.message or "grading reported system_error")
        return Outcome.DONE if finish(session, owner, report) else Outcome.LOST
