"""What /metrics reports, read from the database at scrape time (so every API process and
every worker machine agree): queue depth per queue and lane, submissions by state, verdict
counts, grading latency, sandbox failures, and each worker's heartbeat age."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.lifecycle_models import WorkerHeartbeat
from core.db.models import Submission, SubmissionStatus

LATENCY_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@dataclass
class Snapshot:
    """Numbers for one scrape."""

    queue_depth: dict[tuple[str, str], int] = field(default_factory=dict)  # (queue, lane) -> queued
    by_status: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    latency_buckets: list[tuple[float, int]] = field(default_factory=list)  # cumulative, per bucket
    latency_count: int = 0
    latency_sum_s: float = 0.0
    sandbox_failures: int = 0
    heartbeat_age_s: dict[str, float] = field(default_factory=dict)  # worker -> seconds


def _duration_s(session: Session):  # type: ignore[no-untyped-def]
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Submission.finished_at - Submission.started_at)
    return (func.julianday(Submission.finished_at) - func.julianday(Submission.started_at)) * 86400.0


def snapshot(session: Session) -> Snapshot:
    """Read everything /metrics shows (a handful of aggregate queries)."""
    snap = Snapshot()
    for queue, lane, n in session.execute(
        select(Submission.queue, Submission.lane, func.count())
        .where(Submission.status == SubmissionStatus.QUEUED)
        .group_by(Submission.queue, Submission.lane)
    ):
        snap.queue_depth[(queue, lane)] = int(n)
    for status, n in session.execute(select(Submission.status, func.count()).group_by(Submission.status)):
        snap.by_status[status.value] = int(n)
    for verdict, n in session.execute(
        select(Submission.verdict, func.count()).where(Submission.verdict.is_not(None)).group_by(Submission.verdict)
    ):
        snap.verdicts[str(verdict)] = int(n)
    duration = _duration_s(session)
    graded = (Submission.status == SubmissionStatus.DONE, Submission.started_at.is_not(None),
              Submission.finished_at.is_not(None))
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(duration), 0.0)).where(*graded)).one()
    snap.latency_count, snap.latency_sum_s = int(count), float(total or 0.0)
    for bound in LATENCY_BUCKETS_S:
        n = session.scalar(select(func.count()).where(*graded, duration <= bound)) or 0
        snap.latency_buckets.append((bound, int(n)))
    infra = session.scalar(select(func.coalesce(func.sum(Submission.infra_errors), 0))) or 0
    failed = snap.by_status.get(SubmissionStatus.FAILED.value, 0)
    snap.sandbox_failures = int(infra) + failed
    now = utcnow()
    for worker_id, beat_at in session.execute(select(WorkerHeartbeat.id, WorkerHeartbeat.beat_at)):
        snap.heartbeat_age_s[worker_id] = max(0.0, (now - beat_at).total_seconds())
    return snap
