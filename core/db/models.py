"""The ORM models: users and tokens, problems and their immutable versions, submissions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, UTCDateTime, utcnow


class Role(enum.StrEnum):
    """What a user may do: students submit, instructors author, admins manage users."""

    STUDENT = "student"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


class SubmissionStatus(enum.StrEnum):
    """queued -> running -> done (a verdict) | failed (system error after retries)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # A newer submission of the same student to the same problem arrived while this one was
    # still queued: never graded (final, like done and failed).
    SUPERSEDED = "superseded"


FINAL_STATUSES = (SubmissionStatus.DONE, SubmissionStatus.FAILED, SubmissionStatus.SUPERSEDED)


class Lane(enum.StrEnum):
    """Queue lanes: live work is always claimed before rejudges."""

    LIVE = "live"
    REJUDGE = "rejudge"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the lowercase values, checked by a named constraint on every backend.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class User(Base):
    """A person with a role; the password is an argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(back_populates="tokens")


class Problem(Base):
    """A problem by slug; what students see is its current published version."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("problem_versions.id", use_alter=True, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    current_version: Mapped[ProblemVersion | None] = relationship(foreign_keys=[current_version_id], post_update=True)


class ProblemVersion(Base):
    """An immutable snapshot of a package, named by its content hash (tar.gz kept here)."""

    __tablename__ = "problem_versions"
    __table_args__ = (UniqueConstraint("problem_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    content_hash: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(200))
    statement: Mapped[str] = mapped_column(Text, default="")
    starter: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # limits, public cases
    needs_gpu: Mapped[bool] = mapped_column(Boolean, default=False)
    archive: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    problem: Mapped[Problem] = relationship(foreign_keys=[problem_id])


class Submission(Base):
    """One graded (or to-be-graded) upload; `job` and `claim` make grading idempotent."""

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_problem_user", "problem_id", "user_id"),
        Index("ix_submissions_status", "status"),
        Index("ix_submissions_waiting", "status", "queue", "lane"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_submissions_user_idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    problem_version_id: Mapped[int] = mapped_column(ForeignKey("problem_versions.id", ondelete="CASCADE"))
    status: Mapped[SubmissionStatus] = mapped_column(
        _enum(SubmissionStatus, "submission_status"), default=SubmissionStatus.QUEUED
    )
    verdict: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    speed_ratio: Mapped[float | None] = mapped_column(Float)
    wall_s: Mapped[float | None] = mapped_column(Float)
    # How the files were laid out and loaded: {"graded": {symbol: "file:symbol"}, "notes": [...]}
    loading: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # job: bumped by every (re)judge request, carried by the task message; a message whose
    # job is stale is dropped. claim: set by the worker that owns the current attempt; only
    # that worker may write progress and the final result.
    job: Mapped[int] = mapped_column(Integer, default=1)
    claim: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    # "submission" (counted) or "trial" (a run on the public cases: never on boards, in the
    # history, the best submission or the quotas).
    kind: Mapped[str] = mapped_column(String(16), default="submission", server_default="submission")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The fair queue (core/services/queue.py): the lane, when the current job entered the
    # queue, the earliest a retry may be claimed, and the last time the sweeper re-sent it.
    lane: Mapped[str] = mapped_column(String(16), default=Lane.LIVE.value, server_default=Lane.LIVE.value)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    superseded_by_id: Mapped[int | None] = mapped_column(Integer)
    # The worker process (its heartbeat row) holding the claim; a claim whose holder stopped
    # beating is released by the sweeper.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    infra_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Client-chosen key of the submit request: a retried request returns the same submission.
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    # A rejudge remembers the verdict and score it started from; when it changes either,
    # the notice "rejudged on <rejudged_at>, was <was_verdict> <was_score>" is kept.
    previous_verdict: Mapped[str | None] = mapped_column(String(32))
    previous_score: Mapped[float | None] = mapped_column(Float)
    rejudged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    was_verdict: Mapped[str | None] = mapped_column(String(32))
    was_score: Mapped[float | None] = mapped_column(Float)

    user: Mapped[User] = relationship()
    problem: Mapped[Problem] = relationship()
    problem_version: Mapped[ProblemVersion] = relationship()
    files: Mapped[list[SubmissionFile]] = relationship(cascade="all, delete-orphan", order_by="SubmissionFile.path")
    cases: Mapped[list[CaseResult]] = relationship(cascade="all, delete-orphan", order_by="CaseResult.position")


class SubmissionFile(Base):
    """One file of a submission, by relative path."""

    __tablename__ = "submission_files"
    __table_args__ = (UniqueConstraint("submission_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class CaseResult(Base):
    """One case's outcome for one submission; replaced as a set when a grade is written."""

    __tablename__ = "case_results"
    __table_args__ = (UniqueConstraint("submission_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(32))
    points: Mapped[float] = mapped_column(Float)
    max_points: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    stdout: Mapped[str | None] = mapped_column(Text)

import core.db.course_models  # noqa: E402  (the course tables join Base.metadata)
import core.db.lifecycle_models  # noqa: E402, F401  (heartbeats and leases join Base.metadata)
