"""Reconciliation: heartbeats, the sweeper's lease, and the sweep itself.

The submission rows are the truth; broker messages are only turns (core/services/queue.py).
One sweep, run by whoever holds the `sweeper` lease (workers and `tensorjudge serve` all try,
one wins), does three things:

1. releases claims nobody works on any more: the holder's heartbeat is older than
   heartbeat_timeout_s or gone (a SIGKILLed worker), the holder is alive but says it is busy
   with something else (a claim orphaned by a database outage), or the attempt has run past
   the task's hard time limit. A released submission goes back to `queued` with a fresh turn
   on the broker, or ends `failed` once it has used task_max_attempts attempts;
2. re-sends turns for queued work when a queue has idle workers while submissions wait there
   for longer than republish_after_s (a publish that never happened, a Redis that lost its
   messages); extra turns are harmless, an empty queue makes them no-ops;
3. forgets heartbeats of processes gone for an hour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.lifecycle_models import Lease, WorkerHeartbeat
from core.db.models import Submission, SubmissionStatus
from core.services.broker import task_time_limits_s
from core.services.submissions import Job
from core.settings import Settings

log = logging.getLogger(__name__)

SWEEPER_LEASE = "sweeper"
Publish = Callable[[Job], None]


def beat(
    session: Session, identity: str, *, host: str, pid: int, queues: str, busy: int | None,
    sandbox: str = "", sandbox_uid: int | None = None,
) -> None:
    """Write this worker process's heartbeat row (commits)."""
    now = utcnow()
    values = {"host": host[:200], "pid": pid, "queues": queues[:64], "busy_submission_id": busy,
              "sandbox": sandbox[:64], "sandbox_uid": sandbox_uid, "beat_at": now}
    updated = session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.id == identity).values(**values))
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.add(WorkerHeartbeat(id=identity, started_at=now, **values))
    session.commit()


def forget(session: Session, identity: str) -> None:
    """Remove a heartbeat row at a clean shutdown (commits): its claims are released at once."""
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id == identity))
    session.commit()


def acquire_lease(session: Session, name: str, owner: str, ttl_s: float) -> bool:
    """Take or renew the lease `name` for `ttl_s` (commits); False while someone else holds it."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.owner == owner, Lease.expires_at < now))
        .values(owner=owner, expires_at=expires)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    if session.get(Lease, name) is not None:
        session.rollback()
        return False
    try:
        session.add(Lease(name=name, owner=owner, expires_at=expires))
        session.commit()
    except IntegrityError:  # another process created it first
        session.rollback()
        return False
    return True


@dataclass
class SweepReport:
    """What one sweep did."""

    released: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    republished: list[int] = field(default_factory=list)


def _stuck_claims(session: Session, settings: Settings, now: datetime) -> list[Submission]:
    grace = now - timedelta(seconds=settings.heartbeat_timeout_s)
    _, hard_s = task_time_limits_s(settings)
    overdue = now - timedelta(seconds=hard_s + settings.heartbeat_timeout_s)
    beats = {h.id: h for h in session.scalars(select(WorkerHeartbeat))}
    stuck = []
    running = session.scalars(
        select(Submission).where(Submission.status == SubmissionStatus.RUNNING, Submission.started_at < grace)
    )
    for sub in running:
        holder = beats.get(sub.claimed_by) if sub.claimed_by else None
        if sub.started_at is not None and sub.started_at < overdue:
            stuck.append(sub)  # ran past every limit, whoever holds it
        elif sub.claimed_by and (holder is None or holder.beat_at < grace):
            stuck.append(sub)  # the holder died
        elif holder is not None and holder.busy_submission_id != sub.id and holder.beat_at > (sub.started_at or now):
            stuck.append(sub)  # the holder lives but moved on (its claim was orphaned)
    return stuck


def sweep(session: Session, settings: Settings, publish: Publish) -> SweepReport:
    """One reconciliation pass (commits); `publish` sends a turn to the broker."""
    report = SweepReport()
    now = utcnow()
    for sub in _stuck_claims(session, settings, now):
        if sub.attempts >= settings.task_max_attempts:
            values = {"status": SubmissionStatus.FAILED, "verdict": "system_error", "claim": None,
                      "claimed_by": None, "finished_at": now,
                      "message": f"grading was interrupted {sub.attempts} times (worker lost or timed out); "
                                 "gave up, an instructor can rejudge it"}
            target = report.failed
        else:
            values = {"status": SubmissionStatus.QUEUED, "claim": None, "claimed_by": None, "queued_at": now,
                      "published_at": now, "message": "the worker grading it stopped; queued again"}
            target = report.released
        done = session.execute(
            update(Submission).where(Submission.id == sub.id, Submission.claim == sub.claim).values(**values)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            target.append(sub.id)
    session.commit()
    for sid in report.released:
        _publish(session, publish, sid)
    report.republished = _republish_waiting(session, settings, publish, now)
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - timedelta(hours=1)))
    session.commit()
    if report.released or report.failed or report.republished:
        log.info("sweep: released %s, failed %s, re-sent %s", report.released, report.failed, report.republished)
    return report


def _publish(session: Session, publish: Publish, submission_id: int) -> bool:
    sub = session.get(Submission, submission_id)
    if sub is None:
        return False
    try:
        publish(Job(sub.id, sub.job, sub.queue))
        return True
    except Exception as exc:  # noqa: BLE001 - the next sweep tries again
        log.warning("sweep: could not publish submission %s: %s", submission_id, exc)
        return False


def _republish_waiting(session: Session, settings: Settings, publish: Publish, now: datetime) -> list[int]:
    fresh = now - timedelta(seconds=settings.heartbeat_timeout_s)
    idle: dict[str, int] = {}
    for h in session.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.beat_at >= fresh)):
        if h.busy_submission_id is None:
            for q in h.queues.split(","):
                idle[q] = idle.get(q, 0) + 1
    waited = now - timedelta(seconds=settings.republish_after_s)
    sent: list[int] = []
    for queue, slots in idle.items():
        rows = session.scalars(
            select(Submission)
            .where(
                Submission.status == SubmissionStatus.QUEUED,
                Submission.queue == queue,
                func.coalesce(Submission.published_at, Submission.queued_at, Submission.created_at) < waited,
                or_(Submission.not_before.is_(None), Submission.not_before <= now),
            )
            .order_by(Submission.queued_at, Submission.id)
            .limit(slots)
        ).all()
        for sub in rows:
            if _publish(session, publish, sub.id):
                sub.published_at = now
                sent.append(sub.id)
    session.commit()
    return sent
