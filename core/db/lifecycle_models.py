"""Tables of the submission life cycle: worker heartbeats and leases (one owner at a time)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime, utcnow


class WorkerHeartbeat(Base):
    """One grading worker process (one pool slot), beating every few seconds. A claim held by
    a process whose beat is older than the heartbeat timeout is released by the sweeper."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid:random
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(64))  # comma-separated, e.g. "cpu,gpu"
    busy_submission_id: Mapped[int | None] = mapped_column(Integer)
    sandbox: Mapped[str] = mapped_column(String(64), default="")  # backend name, "" unknown
    sandbox_uid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Lease(Base):
    """A named lease (the sweeper's): whoever holds an unexpired one is the only owner."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
