"""What the health check and the admin page say about the grading side: the sandbox backend
and uid the workers use, the live workers, and the queue depth."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.lifecycle_models import WorkerHeartbeat
from core.db.models import Submission, SubmissionStatus
from core.services.sandbox_info import describe
from core.settings import Settings


def workers(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Worker processes with a fresh heartbeat, newest beat first."""
    fresh = utcnow() - timedelta(seconds=settings.heartbeat_timeout_s)
    rows = session.scalars(
        select(WorkerHeartbeat).where(WorkerHeartbeat.beat_at >= fresh).order_by(WorkerHeartbeat.beat_at.desc())
    )
    now = utcnow()
    return [
        {"id": h.id, "host": h.host, "queues": h.queues.split(","), "busy_submission": h.busy_submission_id,
         "sandbox": h.sandbox or "unknown", "sandbox_uid": h.sandbox_uid,
         "heartbeat_age_s": round((now - h.beat_at).total_seconds(), 1)}
        for h in rows
    ]


def sandbox(session: Session, settings: Settings, live: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The backend and uid student code runs under: as the live workers report it, or, with
    none alive, as this process would grade (the embedded default)."""
    live = workers(session, settings) if live is None else live
    seen = sorted({(w["sandbox"], w["sandbox_uid"]) for w in live if w["sandbox"] != "unknown"},
                  key=lambda p: (p[0], -1 if p[1] is None else p[1]))
    if seen:
        backend, uid = seen[0]
        return {"backend": backend, "uid": uid, "reported_by": "workers",
                "all": [{"backend": b, "uid": u} for b, u in seen]}
    local = describe(settings)
    return {"backend": local["backend"], "uid": local["uid"], "reported_by": "this process",
            "detail": local["detail"]}


def queue_depth(session: Session) -> dict[str, int]:
    """Queued submissions per queue."""
    rows = session.execute(
        select(Submission.queue, func.count()).where(Submission.status == SubmissionStatus.QUEUED)
        .group_by(Submission.queue)
    )
    return {queue: int(n) for queue, n in rows}
