"""What courses change for a student outside the course pages: which problems they see, when
they may submit (release, hard close, quotas), when hidden verdicts are shown, and the
pseudonyms of anonymous leaderboards (the board rule itself is core.services.board_policy).
Global instructors and admins, and a course's own instructors and TAs, are exempt from all
of it. A problem in no assignment of any course is unaffected.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from core.clock import now
from core.db.course_models import (
    Assignment,
    AssignmentProblem,
    Course,
    CourseMembership,
    CourseRole,
    Extension,
    ResultsPolicy,
)
from core.db.models import Problem, Role, Submission, SubmissionStatus, User
from core.services import kinds
from core.services.errors import ForbiddenError, TooManyAttemptsError

QUOTA_WINDOW = timedelta(days=1)


class QuotaExceededError(TooManyAttemptsError):
    """A submission over an assignment's daily quota: a 429, with when the next is allowed."""

    def __init__(self, message: str, retry_after_s: int, next_allowed_at: datetime) -> None:
        super().__init__(message, retry_after_s)
        self.next_allowed_at = next_allowed_at
        # Added to the API's JSON error body next to "detail".
        self.extra = {"next_allowed_at": next_allowed_at.isoformat(), "retry_after_s": retry_after_s}


def is_global_staff(user: User | None) -> bool:
    """Global instructors and admins: exempt from every course rule."""
    return user is not None and user.role in (Role.INSTRUCTOR, Role.ADMIN)


def visible_clause(user: User | None) -> ColumnElement[bool]:
    """A filter on Problem: in no course, or in a released assignment of one of `user`'s courses
    (any assignment, released or not, for the course's instructors and TAs)."""
    in_a_course = select(AssignmentProblem.problem_id)
    if user is None:
        return Problem.id.not_in(in_a_course)
    reachable = (
        select(AssignmentProblem.problem_id)
        .join(Assignment, Assignment.id == AssignmentProblem.assignment_id)
        .join(CourseMembership, CourseMembership.course_id == Assignment.course_id)
        .where(
            CourseMembership.user_id == user.id,
            or_(CourseMembership.role != CourseRole.STUDENT, Assignment.release_at <= now()),
        )
    )
    return or_(Problem.id.not_in(in_a_course), Problem.id.in_(reachable))


def can_see(session: Session, problem: Problem, user: User | None) -> bool:
    """Whether the course rules let `user` see `problem` (global staff always)."""
    if is_global_staff(user):
        return True
    return session.scalar(select(func.count()).where(Problem.id == problem.id, visible_clause(user))) == 1


@dataclass(frozen=True)
class _Reach:
    assignment: Assignment
    role: CourseRole
    extension: Extension | None


def _reach(session: Session, user: User, problem_id: int) -> list[_Reach]:
    rows = session.execute(
        select(Assignment, CourseMembership.role, Extension)
        .join(AssignmentProblem, AssignmentProblem.assignment_id == Assignment.id)
        .join(CourseMembership, CourseMembership.course_id == Assignment.course_id)
        .outerjoin(Extension, (Extension.assignment_id == Assignment.id) & (Extension.user_id == user.id))
        .where(AssignmentProblem.problem_id == problem_id, CourseMembership.user_id == user.id)
        .order_by(Assignment.due_at, Assignment.id)
    ).all()
    return [_Reach(a, r, e) for a, r, e in rows]


def _student_reach(session: Session, user: User | None, problem_id: int) -> list[_Reach] | None:
    """The released assignments through which a student reaches the problem; None when the
    rules do not apply (staff, course staff, or a problem in no course)."""
    if user is None or is_global_staff(user):
        return None
    reach = _reach(session, user, problem_id)
    if not reach or any(r.role is not CourseRole.STUDENT for r in reach):
        return None
    return [r for r in reach if r.assignment.release_at <= now()]


def _due(r: _Reach) -> datetime:
    return r.extension.due_at if r.extension else r.assignment.due_at


def _close(r: _Reach) -> datetime | None:
    close = r.assignment.hard_close_at
    if close is not None and r.extension is not None and r.extension.due_at > close:
        return r.extension.due_at
    return close


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def check_submission(session: Session, user: User, problem: Problem) -> None:
    """Refuse a student's submission after the hard close (403) or over an assignment's quota
    (daily: 429 with the time the next one is allowed; in total: 403). Staff are exempt."""
    reach = _student_reach(session, user, problem.id)
    if not reach:
        return
    t = now()
    open_ = [r for r in reach if _close(r) is None or t <= _close(r)]  # type: ignore[operator]
    if not open_:
        close = max(c for r in reach if (c := _close(r)) is not None)
        raise ForbiddenError(f"{problem.slug}: submissions closed at {_when(close)}")
    counted = (Submission.user_id == user.id, Submission.problem_id == problem.id,
               Submission.status != SubmissionStatus.FAILED, kinds.counted())
    for r in open_:
        a = r.assignment
        if a.quota_total is not None:
            used = session.scalar(select(func.count(Submission.id)).where(*counted)) or 0
            if used >= a.quota_total:
                raise ForbiddenError(f"{problem.slug}: you have used all {a.quota_total} submissions "
                                     f"allowed in {a.title}")
        if a.quota_per_day is not None:
            recent = list(session.scalars(
                select(Submission.created_at).where(*counted, Submission.created_at > t - QUOTA_WINDOW)
                .order_by(Submission.created_at.desc()).limit(a.quota_per_day)
            ))
            if len(recent) >= a.quota_per_day:
                next_at = recent[-1] + QUOTA_WINDOW
                wait = max(1, math.ceil((next_at - t).total_seconds()))
                raise QuotaExceededError(
                    f"{problem.slug}: {a.quota_per_day} submissions per 24 hours in {a.title}; "
                    f"the next one is allowed at {_when(next_at)} (in {_wait_text(wait)})",
                    wait, next_at)


def _wait_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{max(1, math.ceil(rest / 60))} min"


def results_withheld_until(session: Session, viewer: User, submission: Submission) -> datetime | None:
    """When the viewer will see this submission's hidden cases, if not yet: a student reaching
    the problem through an assignment that shows results after the due time (their own due
    time, extension included). None: nothing is withheld."""
    reach = _student_reach(session, viewer, submission.problem_id)
    if not reach or submission.user_id != viewer.id:
        return None
    dues = [_due(r) for r in reach if r.assignment.results_policy is ResultsPolicy.AFTER_DUE]
    if not dues or now() >= max(dues):
        return None
    return max(dues)


def withhold(view: dict[str, Any], until: datetime) -> dict[str, Any]:
    """A submission view (its keys as the API names them) with hidden cases left out, no
    overall verdict, and the score of the public cases only."""
    public = [c for c in view.get("cases", []) if c.get("visibility") == "public"]
    done = view.get("status") == SubmissionStatus.DONE.value
    return {
        **view,
        "cases": public,
        "verdict": None,
        "score": sum(float(c.get("points") or 0) for c in public) if done else None,
        "max_score": sum(float(c.get("max_points") or 0) for c in public) if done else view.get("max_score"),
        "speed_ratio": None,
        "message": f"Hidden cases' results are shown after the due time, {_when(until)}.",
        "withheld_until": until.isoformat(),
    }


def pseudonym(course: Course, user_id: int) -> str:
    """A stable per-course alias that cannot be worked out from the user id."""
    digest = hmac.new(course.pseudonym_salt.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()
    return f"anonymous-{digest[:6]}"
