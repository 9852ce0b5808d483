"""Request and response bodies of the course API (api.routes.courses)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from api.schemas import SubmissionPublic
from core.db.course_models import Assignment, Course, LatePolicy, LeaderboardPolicy, ResultsPolicy
from core.db.models import Submission, User
from core.services import course_access
from core.services.courses import AssignmentFields
from core.services.gradebook import ProblemScore, StudentRow, lateness_text

SLUG = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")


class CourseCreate(BaseModel):
    """A new course."""

    slug: str = SLUG
    title: str = Field(min_length=1, max_length=200)
    term: str = Field(default="", max_length=64)
    late_days: int = Field(default=0, ge=0, le=365)


class CourseUpdate(BaseModel):
    """Changes to a course; fields left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    term: str | None = Field(default=None, max_length=64)
    late_days: int | None = Field(default=None, ge=0, le=365)


class TemplateInstantiate(BaseModel):
    """A course made from a template, all its dates counted from `start`."""

    slug: str = SLUG
    start: AwareDatetime
    title: str | None = Field(default=None, max_length=200)
    term: str = Field(default="", max_length=64)


class ProblemPoints(BaseModel):
    """One problem of an assignment and what it is worth."""

    slug: str = Field(min_length=1, max_length=64)
    points: float = Field(default=100.0, ge=0, le=100000)


class AssignmentBody(BaseModel):
    """An assignment to create (slug, title, release_at, due_at required) or the changes to
    one (fields left out stay as they are; `hard_close_at: null` with `clear_hard_close`)."""

    slug: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=20000)
    position: int | None = Field(default=None, ge=0, le=10000)
    release_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    hard_close_at: AwareDatetime | None = None
    late_policy: LatePolicy | None = None
    late_penalty_pct: float | None = Field(default=None, ge=0, le=100)
    results_policy: ResultsPolicy | None = None
    leaderboard: LeaderboardPolicy | None = None
    quota_per_day: int | None = Field(default=None, ge=1, le=100000)
    quota_total: int | None = Field(default=None, ge=1, le=100000)
    problems: list[ProblemPoints] | None = Field(default=None, max_length=100)
    clear_hard_close: bool = False
    clear_quotas: bool = False

    def fields(self) -> AssignmentFields:
        """The service's view of this body."""
        data = self.model_dump(exclude={"problems"})
        problems = None if self.problems is None else [(p.slug, p.points) for p in self.problems]
        return AssignmentFields(**data, problems=problems)


class ExtensionBody(BaseModel):
    """A student's own due time."""

    due_at: AwareDatetime
    reason: str = Field(default="", max_length=500)


def course_public(course: Course, role: str) -> dict[str, Any]:
    """A course as the API shows it, with the caller's role in it."""
    return {"slug": course.slug, "title": course.title, "term": course.term, "late_days": course.late_days,
            "template": course.template, "role": role}


def assignment_public(a: Assignment) -> dict[str, Any]:
    """An assignment with its policies and problems."""
    return {
        "slug": a.slug, "title": a.title, "description": a.description, "position": a.position,
        "release_at": a.release_at, "due_at": a.due_at, "hard_close_at": a.hard_close_at,
        "late_policy": a.late_policy.value, "late_penalty_pct": a.late_penalty_pct,
        "results_policy": a.results_policy.value, "leaderboard": a.leaderboard.value,
        "quota_per_day": a.quota_per_day, "quota_total": a.quota_total,
        "problems": [{"slug": ap.problem.slug, "title": ap.problem.title, "points": ap.points}
                     for ap in a.problems],
    }


def _when(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def problem_score_public(p: ProblemScore) -> dict[str, Any]:
    """One cell of the gradebook."""
    return {"problem": p.slug, "points": p.points, "earned": p.earned, "score": p.score, "max_score": p.max_score,
            "late": p.late, "late_hours": round(p.late_s / 3600, 4), "penalty_pct": p.penalty_pct,
            "late_days": p.late_days, "submission_id": p.submission_id, "submitted_at": _when(p.submitted_at),
            "attempts": p.attempts, "lateness": lateness_text(p)}


def row_public(r: StudentRow) -> dict[str, Any]:
    """One student's gradebook row."""
    return {"user": r.user, "display_name": r.display_name, "email": r.email, "section": r.section,
            "due_at": _when(r.deadline.due_at), "hard_close_at": _when(r.deadline.hard_close_at),
            "extension": r.deadline.extended, "total": r.total, "late_days_used": r.late_days_used,
            "late_days_left": r.late_days_left, "problems": [problem_score_public(p) for p in r.problems]}


def results_policy_view(session: Session, viewer: User, submission: Submission, public: SubmissionPublic
                        ) -> SubmissionPublic:
    """`public` as the viewer may see it: hidden cases, the overall verdict and the full score
    left out until the due time where the problem's assignment says so (results policy)."""
    until = course_access.results_withheld_until(session, viewer, submission)
    if until is None:
        return public
    view = course_access.withhold(public.model_dump(), until)
    view.pop("withheld_until", None)
    return SubmissionPublic.model_validate(view)
