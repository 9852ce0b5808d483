"""The course models: courses, their rosters, assignments of problems with deadlines, late
policy, quotas and results policy, and per-student extensions (issue 15).

Collected into Base.metadata by the import at the end of core.db.models."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, UTCDateTime, utcnow
from core.db.models import Problem, User, _enum


class CourseRole(enum.StrEnum):
    """A role inside one course, on top of the user's global role."""

    INSTRUCTOR = "instructor"
    TA = "ta"
    STUDENT = "student"


class LatePolicy(enum.StrEnum):
    """How late work counts: not at all after the due time, a penalty per day or per hour
    late, or the course-wide budget of late days."""

    NONE = "none"
    PER_DAY = "per_day"
    PER_HOUR = "per_hour"
    LATE_DAYS = "late_days"


class ResultsPolicy(enum.StrEnum):
    """When students see hidden cases' verdicts: at once, or only after the due time."""

    IMMEDIATE = "immediate"
    AFTER_DUE = "after_due"


class LeaderboardPolicy(enum.StrEnum):
    """Whether students see the problem's leaderboard, and with whose names."""

    ON = "on"
    OFF = "off"
    ANONYMOUS = "anonymous"


def _new_salt() -> str:
    return secrets.token_hex(16)


class Course(Base):
    """A course: a roster of members and an ordered list of assignments."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    term: Mapped[str] = mapped_column(String(64), default="")
    # Late days every student may spend over the assignments whose policy is late_days.
    late_days: Mapped[int] = mapped_column(Integer, default=0)
    template: Mapped[str] = mapped_column(String(64), default="")  # the template it came from
    # Keys the leaderboard pseudonyms, so they cannot be worked out from user ids.
    pseudonym_salt: Mapped[str] = mapped_column(String(64), default=_new_salt)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[CourseMembership]] = relationship(
        back_populates="course", cascade="all, delete-orphan", passive_deletes=True
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="course",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(Assignment.position, Assignment.id)",
    )


class CourseMembership(Base):
    """A user's place in a course: role, optional section, and the roster's name and email."""

    __tablename__ = "course_memberships"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[CourseRole] = mapped_column(_enum(CourseRole, "course_role"), default=CourseRole.STUDENT)
    section: Mapped[str] = mapped_column(String(64), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Assignment(Base):
    """An ordered set of problems with a release, a due time, an optional hard close, a late
    policy, a results policy, a leaderboard policy and submission quotas."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("course_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    release_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hard_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    late_policy: Mapped[LatePolicy] = mapped_column(_enum(LatePolicy, "late_policy"), default=LatePolicy.NONE)
    late_penalty_pct: Mapped[float] = mapped_column(Float, default=0.0)  # per day or hour late
    results_policy: Mapped[ResultsPolicy] = mapped_column(
        _enum(ResultsPolicy, "results_policy"), default=ResultsPolicy.IMMEDIATE
    )
    leaderboard: Mapped[LeaderboardPolicy] = mapped_column(
        _enum(LeaderboardPolicy, "leaderboard_policy"), default=LeaderboardPolicy.ON
    )
    quota_per_day: Mapped[int | None] = mapped_column(Integer)  # per problem, per student, rolling 24 h
    quota_total: Mapped[int | None] = mapped_column(Integer)  # per problem, per student
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course] = relationship(back_populates="assignments")
    problems: Mapped[list[AssignmentProblem]] = relationship(
        back_populates="assignment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(AssignmentProblem.position, AssignmentProblem.id)",
    )
    extensions: Mapped[list[Extension]] = relationship(
        back_populates="assignment", cascade="all, delete-orphan", passive_deletes=True
    )


class AssignmentProblem(Base):
    """One problem of an assignment: its place in the order and what it is worth."""

    __tablename__ = "assignment_problems"
    __table_args__ = (
        UniqueConstraint("assignment_id", "problem_id"),
        Index("ix_assignment_problems_problem_id", "problem_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[float] = mapped_column(Float, default=100.0)

    assignment: Mapped[Assignment] = relationship(back_populates="problems")
    problem: Mapped[Problem] = relationship()


class Extension(Base):
    """One student's own due time for one assignment (it also moves their hard close)."""

    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("assignment_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500), default="")
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="extensions")
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Invite(Base):
    """A one-time link that lets a roster-created account set its first password. Only the
    SHA-256 of the link's token is stored; a newer invite for the same user revokes this one
    while it is unused."""

    __tablename__ = "course_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    course: Mapped[Course] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
