"""The worker side of a submission: claim, grade, report progress, write the result once.

Idempotency: claiming bumps `attempts` and sets a fresh `claim` token with one conditional
UPDATE; progress and the final result are written only `WHERE claim = <my token>`, and the
final write replaces every case result in the same transaction as the verdict. A task message
is a turn in its queue (core/services/queue.py): the worker claims the next submission by the
fair policy, so a redelivered or duplicated message grades at most one submission, and never
one that is already claimed. A claim whose worker died is released by the sweeper
(core/services/sweeper.py) once its heartbeat stops. Each step runs in a short session of its
own, retried on transient database errors (core/services/dbretry.py); no session is held
while the sandbox runs.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.lifecycle_models import WorkerHeartbeat
from core.db.models import CaseResult, Lane, ProblemVersion, Submission, SubmissionStatus
from core.errors import InfrastructureError, ProblemError
from core.jsonsafe import json_safe
from core.logs import bind_submission, unbind_submission
from core.report import GradeReport
from core.services import queue as fair_queue
from core.services.dbretry import with_session
from core.services.kinds import is_trial
from core.services.problems import load_version
from core.services.trials import public_only
from core.settings import Settings
from core.verdicts import MESSAGES, Verdict

log = logging.getLogger(__name__)

Grader = Callable[..., GradeReport]
Claim = fair_queue.Claim


class Outcome(StrEnum):
    """What handling one task message did."""

    DONE = "done"
    STALE = "stale"  # nothing to do: superseded job, already finished, or an empty queue
    LOST = "lost"  # another delivery took the claim over while we graded
    FAILED = "failed"


_OPEN = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING)
PROGRESS_EVERY_S = 0.25  # at most one progress write per this many seconds, after the first
# The submission this process grades now (a worker pool slot is one process), for its heartbeat.
_busy: list[int | None] = [None]


def busy_submission() -> int | None:
    """The submission this process is grading now, None when idle."""
    return _busy[0]


def claim(session: Session, submission_id: int, job: int, worker: str, claimed_by: str | None = None) -> Claim | None:
    """Take over one submission's current job, queued or running (commits); None when the
    message is stale. The fair path is core.services.queue.claim_next."""
    return fair_queue.claim_row(session, submission_id, job, worker, claimed_by, only_queued=False)


def report_progress(session: Session, owner: Claim, done: int, total: int) -> None:
    """Record case `done` of `total` (commits; ignored once the claim is lost)."""
    session.execute(
        update(Submission)
        .where(Submission.id == owner.submission_id, Submission.claim == owner.token)
        .values(progress_done=done, progress_total=total)
    )
    session.commit()


def _notice_values(session: Session, submission_id: int, verdict: str, score: float | None) -> dict[str, Any]:
    # A rejudge that changes the verdict or the score leaves a notice; one that changes
    # nothing leaves the earlier notice (if any) as it was.
    row = session.execute(
        select(Submission.lane, Submission.previous_verdict, Submission.previous_score)
        .where(Submission.id == submission_id)
    ).first()
    if row is None or row.lane != Lane.REJUDGE.value or row.previous_verdict is None:
        return {}
    values: dict[str, Any] = {"previous_verdict": None, "previous_score": None}
    if row.previous_verdict != verdict or not _same_score(row.previous_score, score):
        values.update(rejudged_at=utcnow(), was_verdict=row.previous_verdict, was_score=row.previous_score)
    return values


def _same_score(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-9)


def finish(session: Session, owner: Claim, report: GradeReport) -> bool:
    """Write the verdict and the case results in one transaction; False if the claim is lost
    or the result was already written (so a retried write never writes twice)."""
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
            **_notice_values(session, owner.submission_id, report.verdict.value, report.score),
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


def release(session: Session, owner: Claim, message: str, *, backoff_s: float = 0.0, infra: bool = False) -> None:
    """Give a claim back (commits) so that another turn can claim it, no earlier than
    `backoff_s` from now; `infra` counts it as an infrastructure failure."""
    values: dict[str, Any] = {
        "status": SubmissionStatus.QUEUED, "claim": None, "claimed_by": None, "message": message[:2000],
        "queued_at": utcnow(), "not_before": utcnow() + timedelta(seconds=backoff_s) if backoff_s else None,
    }
    if infra:
        values["infra_errors"] = Submission.infra_errors + 1
    session.execute(
        update(Submission).where(Submission.id == owner.submission_id, Submission.claim == owner.token).values(**values)
    )
    session.commit()


def fail(session: Session, submission_id: int, job: int, message: str) -> bool:
    """Give up on a job: status failed, verdict system_error, no case results (commits)."""
    session.execute(delete(CaseResult).where(CaseResult.submission_id == submission_id))
    verdict = Verdict.SYSTEM_ERROR.value
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.job == job, Submission.status.in_(_OPEN))
        .values(
            status=SubmissionStatus.FAILED,
            verdict=verdict,
            message=(message or MESSAGES[Verdict.SYSTEM_ERROR])[:2000],
            claim=None,
            claimed_by=None,
            finished_at=utcnow(),
            **_notice_values(session, submission_id, verdict, None),
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


def _mark_busy(session: Session, claimed_by: str | None, submission_id: int | None) -> None:
    if claimed_by:
        session.execute(
            update(WorkerHeartbeat).where(WorkerHeartbeat.id == claimed_by).values(busy_submission_id=submission_id)
        )
        session.commit()


def run_job(
    settings: Settings,
    submission_id: int,
    job: int,
    worker: str,
    *,
    grader: Grader | None = None,
    max_attempts: int | None = None,
) -> Outcome:
    """Grade one given submission's job end to end (the inline path of tests and tools; the
    worker takes turns with serve_turn). InfrastructureError propagates after the claim was
    released; every student fault is a verdict in the report."""
    url = settings.effective_database_url
    owner = with_session(url, lambda s: claim(s, submission_id, job, worker), attempts=settings.db_retry_attempts,
                         what=f"claim submission {submission_id}")
    if owner is None:
        return Outcome.STALE
    return grade_claimed(settings, owner, grader=grader, max_attempts=max_attempts)


def serve_turn(
    settings: Settings,
    queue: str,
    worker: str,
    claimed_by: str | None,
    *,
    grader: Grader | None = None,
) -> tuple[Outcome, int | None]:
    """Handle one task message of `queue`: claim the next submission by the fair policy and
    grade it. Returns the outcome and the submission graded (None: nothing was waiting)."""
    url = settings.effective_database_url
    for _ in range(3):  # a poison submission found on the way is failed and the next one taken
        owner = with_session(url, lambda s: fair_queue.claim_next(s, queue, worker, claimed_by),
                             attempts=settings.db_retry_attempts, what=f"claim from queue {queue}")
        if owner is None:
            return Outcome.STALE, None
        try:
            outcome = grade_claimed(settings, owner, grader=grader, claimed_by=claimed_by)
        finally:
            _forget_busy(url, claimed_by)
        if outcome is not Outcome.FAILED or owner.attempts <= settings.task_max_attempts:
            return outcome, owner.submission_id
    return Outcome.FAILED, None


def _forget_busy(url: str, claimed_by: str | None) -> None:
    try:
        with_session(url, lambda s: _mark_busy(s, claimed_by, None), attempts=2, what="heartbeat")
    except InfrastructureError:
        pass  # the next beat says it again


def grade_claimed(
    settings: Settings,
    owner: Claim,
    *,
    grader: Grader | None = None,
    max_attempts: int | None = None,
    claimed_by: str | None = None,
) -> Outcome:
    """Grade a claimed submission and write its result once (short sessions per step)."""
    _busy[0] = owner.submission_id
    token = bind_submission(owner.submission_id)
    try:
        return _grade_claimed(settings, owner, grader, max_attempts, claimed_by)
    finally:
        _busy[0] = None
        unbind_submission(token)


def _grade_claimed(
    settings: Settings, owner: Claim, grader: Grader | None, max_attempts: int | None, claimed_by: str | None
) -> Outcome:
    url = settings.effective_database_url
    tries = settings.db_retry_attempts
    sid = owner.submission_id
    max_attempts = max_attempts or settings.task_max_attempts
    if owner.attempts > max_attempts:
        # A submission that keeps killing its worker must not loop forever.
        with_session(url, lambda s: fail(s, sid, owner.job, f"gave up after {max_attempts} attempts"),
                     attempts=tries, what=f"fail submission {sid}")
        return Outcome.FAILED

    def load(session: Session) -> tuple[Any, str, dict[str, bytes], int]:
        _mark_busy(session, claimed_by, sid)
        submission = session.get(Submission, sid)
        assert submission is not None
        version = session.get(ProblemVersion, submission.problem_version_id)
        assert version is not None
        files = {f.path: f.content for f in submission.files}
        try:
            problem = load_version(settings, version)
            # A trial run grades the public cases only (core.services.trials).
            return (public_only(problem) if is_trial(submission) else problem), "", files, submission.infra_errors
        except ProblemError as exc:
            return None, f"problem package is broken: {exc}", files, submission.infra_errors

    problem, broken, files, infra_errors = with_session(url, load, attempts=tries, what=f"load submission {sid}")
    if problem is None:
        with_session(url, lambda s: fail(s, sid, owner.job, broken), attempts=tries, what=f"fail submission {sid}")
        return Outcome.FAILED

    last_write = [-PROGRESS_EVERY_S]

    def progress(done: int, total: int) -> None:
        # Progress is a courtesy: a database blip here never changes or stops a grade. The first
        # case is always written; later ones only PROGRESS_EVERY_S after the last write (a fast
        # grade's progress would cost one commit per case, and the final result writes it anyway).
        now = time.monotonic()
        if now - last_write[0] < PROGRESS_EVERY_S:
            return
        last_write[0] = now
        try:
            with_session(url, lambda s: report_progress(s, owner, done, total), attempts=2, what="progress")
        except Exception as exc:  # noqa: BLE001
            log.warning("submission %s: progress not recorded: %s", sid, exc.__class__.__name__)

    try:
        report = (grader or load_grader(settings.grader))(problem, files, settings=settings, progress=progress)
        if report.verdict is Verdict.SYSTEM_ERROR:
            raise InfrastructureError(report.message or "grading reported system_error")
    except InfrastructureError as exc:
        log.warning("submission %s attempt %s: %s", sid, owner.attempts, exc)
        why = str(exc)
        if infra_errors + 1 > settings.task_max_retries:
            with_session(url, lambda s: fail(s, sid, owner.job, f"judge error after retries: {why}"),
                         attempts=tries, what=f"fail submission {sid}")
            return Outcome.FAILED
        backoff = settings.task_retry_backoff_s * (2**infra_errors)
        with_session(url, lambda s: release(s, owner, f"judge error, retrying: {why}", backoff_s=backoff, infra=True),
                     attempts=tries, what=f"release submission {sid}")
        raise
    done = with_session(url, lambda s: finish(s, owner, report), attempts=tries, what=f"write result of {sid}")
    return Outcome.DONE if done else Outcome.LOST
