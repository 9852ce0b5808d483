"""Which leaderboards a viewer sees, and under whose names: the one rule that the per-problem
board, the overall board, their pages and the API all apply (issue 15).

For each problem, look at the released assignments that hold it in the courses where the
viewer is a student:

- none (a problem in no course of theirs): real names;
- every one says `off`: the problem's board is hidden from the viewer;
- otherwise, any one says `anonymous`: everyone but the viewer appears under a pseudonym
  (course_access.pseudonym, keyed by the lowest-numbered such course), the viewer as "you";
- otherwise: real names.

Global instructors and admins, and anyone who is an instructor or TA of a course holding the
problem, see real names. The overall board counts only the published problems the viewer may
see whose board is not hidden, and uses pseudonyms as soon as one of those problems does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import now
from core.db.course_models import Assignment, AssignmentProblem, Course, CourseMembership, CourseRole, LeaderboardPolicy
from core.db.models import Problem, User
from core.services import course_access
from core.services.errors import ForbiddenError


class BoardMode(enum.StrEnum):
    """How a viewer sees one board."""

    NAMES = "names"
    PSEUDONYMS = "pseudonyms"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class BoardRule:
    """A board's mode for one viewer, and the course whose salt keys its pseudonyms."""

    mode: BoardMode
    course: Course | None = None


NAMES = BoardRule(BoardMode.NAMES)


def _decide(policies: list[tuple[LeaderboardPolicy, Course]]) -> BoardRule:
    if not policies:
        return NAMES
    if all(p is LeaderboardPolicy.OFF for p, _ in policies):
        return BoardRule(BoardMode.HIDDEN)
    anonymous = [c for p, c in policies if p is LeaderboardPolicy.ANONYMOUS]
    if anonymous:
        return BoardRule(BoardMode.PSEUDONYMS, min(anonymous, key=lambda c: c.id))
    return NAMES


def rules(session: Session, viewer: User | None, problem_ids: Iterable[int]) -> dict[int, BoardRule]:
    """problem id -> how `viewer` sees that problem's board (one query for all of them).
    Whether the viewer may see the problem at all is the caller's business."""
    ids = set(problem_ids)
    if viewer is None or course_access.is_global_staff(viewer) or not ids:
        return dict.fromkeys(ids, NAMES)
    rows = session.execute(
        select(AssignmentProblem.problem_id, Assignment, CourseMembership.role)
        .join(Assignment, Assignment.id == AssignmentProblem.assignment_id)
        .join(CourseMembership, CourseMembership.course_id == Assignment.course_id)
        .where(AssignmentProblem.problem_id.in_(ids), CourseMembership.user_id == viewer.id)
    ).all()
    t = now()
    staff: set[int] = set()
    policies: dict[int, list[tuple[LeaderboardPolicy, Course]]] = {}
    for pid, assignment, role in rows:
        if role is not CourseRole.STUDENT:
            staff.add(pid)
        elif assignment.release_at <= t:
            policies.setdefault(pid, []).append((assignment.leaderboard, assignment.course))
    return {pid: NAMES if pid in staff else _decide(policies.get(pid, [])) for pid in ids}


def rule_for(session: Session, viewer: User | None, problem: Problem) -> BoardRule:
    """How `viewer` sees `problem`'s board; ForbiddenError when it is hidden from them."""
    rule = rules(session, viewer, [problem.id])[problem.id]
    if rule.mode is BoardMode.HIDDEN:
        raise ForbiddenError(f"the leaderboard of {problem.slug} is off in your course")
    return rule


def overall_rule(rules_by_problem: dict[int, BoardRule]) -> BoardRule:
    """The overall board's rule from the rules of the problems it counts (hidden ones left
    out by the caller): pseudonyms when any of them uses pseudonyms."""
    courses = [r.course for r in rules_by_problem.values() if r.mode is BoardMode.PSEUDONYMS and r.course]
    return BoardRule(BoardMode.PSEUDONYMS, min(courses, key=lambda c: c.id)) if courses else NAMES


def present(
    rule: BoardRule, viewer: User | None, entries: list[dict[str, Any]], user_ids: list[int]
) -> list[dict[str, Any]]:
    """Board rows as `viewer` may see them: each marked `you` or not, and under pseudonyms
    ("you" for the viewer's own row, no links to others' submissions) where the rule says."""
    me = viewer.id if viewer is not None else None
    out = []
    for entry, uid in zip(entries, user_ids, strict=True):
        mine = uid == me
        row = {**entry, "you": mine}
        if rule.mode is BoardMode.PSEUDONYMS and rule.course is not None:
            row["user"] = "you" if mine else course_access.pseudonym(rule.course, uid)
            if "submission_id" in row and not mine:
                row["submission_id"] = None
        out.append(row)
    return out
