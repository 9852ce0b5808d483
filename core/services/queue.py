"""The fair queue: the database is the queue, a task message is a turn.

Every queued submission has (at least) one task message on its broker queue, but a worker
that receives a message does not grade the message's submission: it claims the next queued
submission of that queue by the fair policy, atomically. The policy, in order:

1. lane: live work before rejudges;
2. the fewest submissions of the same user running now in this queue;
3. the user served longest ago in this queue (never served first): round-robin over users;
4. the user's oldest queued submission.

So one student with 50 queued submissions holds at most one slot more than anyone else, and
a newcomer is served at the next free slot. Postgres claims with SELECT ... FOR UPDATE SKIP
LOCKED; SQLite (one writer at a time) with the same conditional UPDATE, retried when another
worker won the row. Either way the UPDATE's `WHERE status = 'queued'` is what makes a claim
exclusive, so a message delivered twice never grades twice.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from core.db.base import utcnow
from core.db.lifecycle_models import WorkerHeartbeat
from core.db.models import Lane, ProblemVersion, Submission, SubmissionFile, SubmissionStatus, User
from core.settings import Settings

_CLAIM_TRIES = 5
_DEFAULT_GRADE_S = 10.0  # the wait estimate before anything was graded in a queue


@dataclass(frozen=True)
class Claim:
    """Ownership of one grading attempt."""

    submission_id: int
    job: int
    token: str
    attempts: int


def add_queued(session: Session, settings: Settings, user: User, version: ProblemVersion,
               files: dict[str, bytes], *, max_score: float, kind: str = "submission",
               idempotency_key: str | None = None) -> Submission:
    """Store a new live-lane queued row of the version's queue (flushed, not committed) and
    supersede the same student's older queued row of that kind (settings.queue_supersede)."""
    submission = Submission(
        user_id=user.id,
        problem_id=version.problem_id,
        problem_version_id=version.id,
        status=SubmissionStatus.QUEUED,
        queue="gpu" if version.needs_gpu else "cpu",
        lane=Lane.LIVE.value,
        queued_at=utcnow(),
        kind=kind,
        idempotency_key=idempotency_key,
        max_score=max_score,
        files=[SubmissionFile(path=p, content=c) for p, c in sorted(files.items())],
    )
    session.add(submission)
    session.flush()
    if settings.queue_supersede:
        supersede_older(session, submission)
    return submission


def supersede_older(session: Session, submission: Submission) -> list[int]:
    """Mark the same student's older queued live submissions to the same problem superseded
    by `submission` (not committed); returns their ids. A running one is left alone."""
    older = list(
        session.scalars(
            select(Submission.id).where(
                Submission.user_id == submission.user_id,
                Submission.problem_id == submission.problem_id,
                Submission.status == SubmissionStatus.QUEUED,
                Submission.lane == Lane.LIVE.value,
                Submission.kind == submission.kind,
                Submission.id != submission.id,
            )
        )
    )
    if older:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(older), Submission.status == SubmissionStatus.QUEUED)
            .values(
                status=SubmissionStatus.SUPERSEDED,
                superseded_by_id=submission.id,
                message=f"superseded by submission {submission.id} before it was graded",
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    return older


def _fair_pick(queue: str, now: datetime):  # type: ignore[no-untyped-def]
    """The fair policy's next waiting submission of `queue`: live before rejudge, then the
    student with the fewest running, then the one served longest ago (never first), then the
    oldest. Each waiting student's figures are counted once (grouped), not once per waiting
    submission: with a few hundred waiting, per-row subqueries made every claim quadratic."""
    waiting = (
        (Submission.status == SubmissionStatus.QUEUED)
        & (Submission.queue == queue)
        & ((Submission.not_before.is_(None)) | (Submission.not_before <= now))
    )
    other = aliased(Submission)
    per_user = (
        select(
            other.user_id.label("user_id"),
            func.sum(case((other.status == SubmissionStatus.RUNNING, 1), else_=0)).label("running"),
            func.max(other.started_at).label("last_served"),
        )
        .where(other.queue == queue, other.user_id.in_(select(Submission.user_id).where(waiting)))
        .group_by(other.user_id)
        .subquery()
    )
    lane = case((Submission.lane == Lane.LIVE.value, 0), else_=1)
    return (
        select(Submission.id, Submission.job)
        .join(per_user, per_user.c.user_id == Submission.user_id)
        .where(waiting)
        .order_by(lane, per_user.c.running, per_user.c.last_served.asc().nulls_first(),
                  Submission.queued_at, Submission.id)
        .limit(1)
    )


def claim_next(session: Session, queue: str, worker: str, claimed_by: str | None) -> Claim | None:
    """Claim the next submission of `queue` by the fair policy (commits); None when nothing
    is waiting there."""
    for _ in range(_CLAIM_TRIES):
        pick = _fair_pick(queue, utcnow())
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True, of=Submission)
        row = session.execute(pick).first()
        if row is None:
            session.rollback()
            return None
        owner = claim_row(session, row.id, row.job, worker, claimed_by, only_queued=True)
        if owner is not None:
            return owner
    return None


def claim_row(
    session: Session, submission_id: int, job: int, worker: str, claimed_by: str | None, *, only_queued: bool
) -> Claim | None:
    """Take one submission's current job (commits); None when it is not claimable."""
    token = secrets.token_hex(16)
    statuses = [SubmissionStatus.QUEUED] if only_queued else [SubmissionStatus.QUEUED, SubmissionStatus.RUNNING]
    result = session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.job == job, Submission.status.in_(statuses))
        .values(
            status=SubmissionStatus.RUNNING,
            claim=token,
            claimed_by=claimed_by,
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


@dataclass(frozen=True)
class QueueSpot:
    """Where a queued submission stands: how many are claimed before it, and a wait estimate
    (None when no worker serving its queue is alive)."""

    position: int
    estimated_wait_s: float | None
    workers: int


def live_slots(session: Session, settings: Settings, queue: str, now: datetime | None = None) -> int:
    """Worker processes serving `queue` whose heartbeat is fresh."""
    now = now or utcnow()
    fresh = now - timedelta(seconds=settings.heartbeat_timeout_s)
    rows = session.scalars(select(WorkerHeartbeat.queues).where(WorkerHeartbeat.beat_at >= fresh))
    return sum(1 for queues in rows if queue in queues.split(","))


def mean_grade_s(session: Session, queue: str) -> float:
    """Mean wall time of the last 20 graded submissions of a queue (a default before any)."""
    recent = session.execute(
        select(Submission.started_at, Submission.finished_at)
        .where(Submission.queue == queue, Submission.status == SubmissionStatus.DONE)
        .where(Submission.started_at.is_not(None), Submission.finished_at.is_not(None))
        .order_by(Submission.finished_at.desc())
        .limit(20)
    ).all()
    spans = [max(0.0, (f - s).total_seconds()) for s, f in recent if s is not None and f is not None]
    return sum(spans) / len(spans) if spans else _DEFAULT_GRADE_S


def positions(session: Session, queue: str) -> dict[int, int]:
    """Every claimable queued submission of `queue` and how many are claimed before it,
    by replaying the fair policy (lane, then round-robin over users, oldest first)."""
    rows = session.execute(
        select(Submission.id, Submission.user_id, Submission.lane, Submission.queued_at)
        .where(Submission.status == SubmissionStatus.QUEUED, Submission.queue == queue)
        .order_by(Submission.queued_at, Submission.id)
    ).all()
    served = dict(
        session.execute(
            select(Submission.user_id, func.max(Submission.started_at))
            .where(Submission.queue == queue, Submission.started_at.is_not(None))
            .group_by(Submission.user_id)
        ).all()
    )
    out: dict[int, int] = {}
    for lane in (Lane.LIVE.value, Lane.REJUDGE.value):
        per_user: dict[int, list[int]] = {}
        for r in rows:
            if r.lane == lane:
                per_user.setdefault(r.user_id, []).append(r.id)
        # Heap of (turn, user): never-served users first, then the one served longest ago.
        heap: list[tuple[int, float, int]] = []
        for first, user_id in enumerate(per_user):
            last = served.get(user_id)
            heap.append((0, float(first), user_id) if last is None else (1, last.timestamp(), user_id))
        heapq.heapify(heap)
        cursor = dict.fromkeys(per_user, 0)
        for tick in itertools.count():
            if not heap:
                break
            *_, user_id = heapq.heappop(heap)
            out[per_user[user_id][cursor[user_id]]] = len(out)
            cursor[user_id] += 1
            if cursor[user_id] < len(per_user[user_id]):
                heapq.heappush(heap, (2, float(tick), user_id))
    return out


def spot(session: Session, settings: Settings, submission: Submission, cache: dict[str, dict[int, int]] | None = None
         ) -> QueueSpot | None:
    """The queue position and wait estimate of a queued submission (None otherwise)."""
    if submission.status is not SubmissionStatus.QUEUED:
        return None
    cache = {} if cache is None else cache
    if submission.queue not in cache:
        cache[submission.queue] = positions(session, submission.queue)
    position = cache[submission.queue].get(submission.id, 0)
    workers = live_slots(session, settings, submission.queue)
    if workers == 0:
        return QueueSpot(position, None, 0)
    busy = session.scalar(
        select(func.count(Submission.id)).where(
            Submission.queue == submission.queue, Submission.status == SubmissionStatus.RUNNING
        )
    ) or 0
    mean_s = mean_grade_s(session, submission.queue)
    # Rounds of `workers` grades ahead of this one, plus half a grade for the ones running.
    rounds = position / workers + (0.5 if busy >= workers else 0.0)
    return QueueSpot(position, round(rounds * mean_s, 1), workers)
