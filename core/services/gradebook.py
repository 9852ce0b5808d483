"""Assignment scores, computed on every read from the submissions as they stand.

Nothing is stored: a moved due time, a new extension, a changed late policy or a rejudged
submission shows in the next gradebook. For each student and problem, every finished
submission is valued at (score / max_score) x the problem's points, less the late penalty:

- per_day / per_hour: `late_penalty_pct` per started day / hour after the student's due time
  (their extension's, if they have one), never below zero;
- none: a late submission does not count;
- late_days: a submission late by d started days counts in full if the student still has d
  late days of the course's budget; the assignment uses the most days any problem's counted
  submission needed, and assignments spend the budget in due-time order.

A submission after the hard close (moved to the extension's due time when that is later)
never counts. The student's best valued submission per problem is their score for it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.course_models import Assignment, CourseMembership, CourseRole, Extension, LatePolicy
from core.db.models import Submission, SubmissionStatus, User
from core.services.courses import ensure_course_staff, students
from core.services.kinds import counted

DAY_S = 86400.0
HOUR_S = 3600.0


@dataclass(frozen=True)
class Deadline:
    """One student's due time and hard close on one assignment."""

    due_at: datetime
    hard_close_at: datetime | None
    extended: bool


def deadline(assignment: Assignment, extension: Extension | None) -> Deadline:
    """The due time and hard close that apply to a student with `extension` (or none)."""
    if extension is None:
        return Deadline(assignment.due_at, assignment.hard_close_at, False)
    close = assignment.hard_close_at
    if close is not None and extension.due_at > close:
        close = extension.due_at
    return Deadline(extension.due_at, close, True)


@dataclass
class ProblemScore:
    """A student's standing on one problem of an assignment."""

    slug: str
    title: str
    points: float  # what the problem is worth in this assignment
    earned: float = 0.0
    score: float | None = None  # the counted submission's raw score
    max_score: float | None = None
    late_s: float = 0.0
    penalty_pct: float = 0.0
    late_days: int = 0
    submission_id: int | None = None
    submitted_at: datetime | None = None
    attempts: int = 0
    uncounted_late: int = 0  # submissions after the due time or the close that count for nothing

    @property
    def late(self) -> bool:
        """Whether the counted submission came after the student's due time."""
        return self.late_s > 0


@dataclass
class StudentRow:
    """One student's line of the gradebook."""

    user: str
    display_name: str
    email: str
    section: str
    deadline: Deadline
    problems: list[ProblemScore] = field(default_factory=list)
    late_days_used: int = 0
    late_days_left: int = 0

    @property
    def total(self) -> float:
        """The assignment score: the sum of the problems' earned points."""
        return round(sum(p.earned for p in self.problems), 4)


def _units(late_s: float, unit_s: float) -> int:
    return math.ceil(late_s / unit_s - 1e-9) if late_s > 0 else 0


def _value(
    sub: Submission, points: float, assignment: Assignment, dl: Deadline, days_left: int
) -> tuple[float, float, float, int] | None:
    """(earned, seconds late, penalty %, late days) of one submission, or None if it does not count."""
    if dl.hard_close_at is not None and sub.created_at > dl.hard_close_at:
        return None
    late_s = max(0.0, (sub.created_at - dl.due_at).total_seconds())
    fraction = (sub.score or 0.0) / sub.max_score if sub.max_score else 0.0
    penalty, days = 0.0, 0
    policy = assignment.late_policy
    if late_s > 0:
        if policy is LatePolicy.NONE:
            return None
        if policy is LatePolicy.LATE_DAYS:
            days = _units(late_s, DAY_S)
            if days > days_left:
                return None
        else:
            unit = DAY_S if policy is LatePolicy.PER_DAY else HOUR_S
            penalty = min(100.0, assignment.late_penalty_pct * _units(late_s, unit))
    return round(points * fraction * (1 - penalty / 100), 4), late_s, penalty, days


def score_student(
    assignment: Assignment, dl: Deadline, subs: list[Submission], days_left: int
) -> tuple[list[ProblemScore], int]:
    """Per-problem scores for one student from their finished submissions, and the late days used."""
    by_problem: dict[int, list[Submission]] = {}
    for s in subs:
        by_problem.setdefault(s.problem_id, []).append(s)
    scores, used = [], 0
    for ap in assignment.problems:
        ps = ProblemScore(slug=ap.problem.slug, title=ap.problem.title, points=ap.points)
        best: tuple[float, datetime, int] | None = None
        for sub in sorted(by_problem.get(ap.problem_id, []), key=lambda s: (s.created_at, s.id)):
            ps.attempts += 1
            valued = _value(sub, ap.points, assignment, dl, days_left)
            if valued is None:
                ps.uncounted_late += 1
                continue
            earned, late_s, penalty, days = valued
            if best is None or earned > best[0]:
                best = (earned, sub.created_at, sub.id)
                ps.earned, ps.late_s, ps.penalty_pct, ps.late_days = earned, late_s, penalty, days
                ps.score, ps.max_score, ps.submission_id, ps.submitted_at = (
                    sub.score, sub.max_score, sub.id, sub.created_at)
        used = max(used, ps.late_days)
        scores.append(ps)
    return scores, used


def _finished(session: Session, user_ids: list[int], problem_ids: list[int]) -> dict[int, list[Submission]]:
    out: dict[int, list[Submission]] = {}
    if not user_ids or not problem_ids:
        return out
    for start in range(0, len(user_ids), 500):
        rows = session.scalars(
            select(Submission).where(
                Submission.user_id.in_(user_ids[start:start + 500]),
                Submission.problem_id.in_(problem_ids),
                Submission.status == SubmissionStatus.DONE,
                Submission.score.is_not(None),
                counted(),
            )
        )
        for s in rows:
            out.setdefault(s.user_id, []).append(s)
    return out


def _rows(session: Session, assignment: Assignment, members: list[CourseMembership]) -> list[StudentRow]:
    course = assignment.course
    user_ids = [m.user_id for m in members]
    # Late days are spent in due-time order, so the assignments due before this one come first.
    chain = [assignment]
    if assignment.late_policy is LatePolicy.LATE_DAYS:
        same_course = session.scalars(select(Assignment).where(
            Assignment.course_id == course.id, Assignment.late_policy == LatePolicy.LATE_DAYS,
            Assignment.id != assignment.id))
        earlier = [a for a in same_course if (a.due_at, a.id) < (assignment.due_at, assignment.id)]
        chain = sorted([*earlier, assignment], key=lambda a: (a.due_at, a.id))
    problem_ids = sorted({ap.problem_id for a in chain for ap in a.problems})
    subs = _finished(session, user_ids, problem_ids)
    ext_rows: list[Extension] = list(session.scalars(
        select(Extension).where(Extension.assignment_id.in_([a.id for a in chain]), Extension.user_id.in_(user_ids))
    )) if user_ids else []
    exts = {(e.assignment_id, e.user_id): e for e in ext_rows}
    rows = []
    for m in members:
        left = course.late_days
        row: StudentRow | None = None
        for a in chain:
            dl = deadline(a, exts.get((a.id, m.user_id)))
            wanted = {ap.problem_id for ap in a.problems}
            scores, used = score_student(a, dl, [s for s in subs.get(m.user_id, []) if s.problem_id in wanted], left)
            left -= used
            if a.id == assignment.id:
                row = StudentRow(m.user.name, m.display_name, m.email, m.section, dl, scores, used, left)
        assert row is not None
        rows.append(row)
    return rows


def gradebook(session: Session, assignment: Assignment, viewer: User, section: str = "") -> list[StudentRow]:
    """Every student's row for one assignment, by user name (course staff only)."""
    ensure_course_staff(session, assignment.course, viewer)
    members = [m for m in students(session, assignment.course) if not section or m.section == section]
    return _rows(session, assignment, members)


def student_row(session: Session, assignment: Assignment, user: User) -> StudentRow | None:
    """The viewer's own row (None when they are not a student of the course)."""
    member = session.scalar(
        select(CourseMembership).where(
            CourseMembership.course_id == assignment.course_id,
            CourseMembership.user_id == user.id,
            CourseMembership.role == CourseRole.STUDENT,
        )
    )
    return _rows(session, assignment, [member])[0] if member else None


def max_total(assignment: Assignment) -> float:
    """What the assignment is worth in all."""
    return float(sum(ap.points for ap in assignment.problems))


def _num(x: float) -> str:
    return f"{round(x, 4):g}"


def to_csv(assignment: Assignment, rows: list[StudentRow]) -> str:
    """The gradebook as CSV: per problem the points earned, hours late and penalty applied."""
    out = io.StringIO()
    writer = csv.writer(out)
    head = ["user", "display_name", "email", "section", "due_at", "extension"]
    for ap in assignment.problems:
        slug = ap.problem.slug
        head += [slug, f"{slug}_late_hours", f"{slug}_penalty_pct"]
    writer.writerow([*head, "total", "max_total", "late_days_used"])
    for r in rows:
        line = [r.user, r.display_name, r.email, r.section, r.deadline.due_at.isoformat(),
                "yes" if r.deadline.extended else ""]
        for p in r.problems:
            line += [_num(p.earned), _num(p.late_s / HOUR_S), _num(p.penalty_pct)]
        writer.writerow([*line, _num(r.total), _num(max_total(assignment)), r.late_days_used])
    return out.getvalue()


def lateness_text(p: ProblemScore) -> str:
    """'on time', 'late 2.5 h, -20%' or 'no submission', for exports and pages."""
    if p.submission_id is None:
        return "late submissions only, not counted" if p.uncounted_late else "no submission"
    if not p.late:
        return "on time"
    text = f"late {p.late_s / HOUR_S:.1f} h"
    if p.late_days:
        text += f", {p.late_days} late day{'s' if p.late_days > 1 else ''}"
    if p.penalty_pct:
        text += f", -{_num(p.penalty_pct)}%"
    return text


def to_gradescope(assignment: Assignment, rows: list[StudentRow]) -> dict[str, Any]:
    """A Gradescope-style results object per student: one test per problem."""
    return {
        "course": assignment.course.slug,
        "assignment": assignment.slug,
        "title": assignment.title,
        "max_score": max_total(assignment),
        "due_at": assignment.due_at.isoformat(),
        "students": [
            {
                "user": r.user,
                "email": r.email,
                "section": r.section,
                "score": r.total,
                "late_days_used": r.late_days_used,
                "due_at": r.deadline.due_at.isoformat(),
                "tests": [
                    {
                        "name": p.slug,
                        "score": p.earned,
                        "max_score": p.points,
                        "status": "passed" if p.submission_id is not None and p.earned >= p.points else "failed",
                        "output": lateness_text(p),
                        "extra_data": {"submission_id": p.submission_id, "raw_score": p.score,
                                       "raw_max_score": p.max_score},
                    }
                    for p in r.problems
                ],
            }
            for r in rows
        ],
    }
