"""Courses, their members and assignments, and per-student extensions.

Who may do what: global instructors and admins create courses (the creator becomes the
course's instructor); a course's instructors (and admins) edit it, its roster and its
assignments; its TAs also see the gradebook and grant extensions; its students see the
released assignments. Nothing here commits: the caller does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.clock import now
from core.db.course_models import (
    Assignment,
    AssignmentProblem,
    Course,
    CourseMembership,
    CourseRole,
    Extension,
    LatePolicy,
    LeaderboardPolicy,
    ResultsPolicy,
)
from core.db.models import Problem, Role, User
from core.services.errors import ConflictError, ForbiddenError, NotFoundError

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
STAFF_ROLES = (CourseRole.INSTRUCTOR, CourseRole.TA)


def check_slug(slug: str, what: str) -> str:
    """`slug` if it is 1-64 lowercase letters, digits, '-' or '_' (else a clear error)."""
    if not _SLUG.match(slug or ""):
        raise ConflictError(f"bad {what} slug {slug!r}: 1-64 lowercase letters, digits, '-' or '_'")
    return slug


def is_admin(user: User) -> bool:
    """Admins may do anything in every course."""
    return user.role is Role.ADMIN


def membership(session: Session, course: Course, user: User) -> CourseMembership | None:
    """`user`'s membership of `course`, if any."""
    return session.scalar(
        select(CourseMembership).where(CourseMembership.course_id == course.id, CourseMembership.user_id == user.id)
    )


def course_role(session: Session, course: Course, user: User) -> CourseRole | None:
    """The viewer's role in the course; admins count as its instructors."""
    if is_admin(user):
        return CourseRole.INSTRUCTOR
    member = membership(session, course, user)
    return member.role if member else None


def ensure_instructor(session: Session, course: Course, user: User) -> None:
    """Refuse anyone but the course's instructors and admins."""
    if course_role(session, course, user) is not CourseRole.INSTRUCTOR:
        raise ForbiddenError(f"only the instructors of {course.slug!r} may do this")


def ensure_course_staff(session: Session, course: Course, user: User) -> None:
    """Refuse anyone but the course's instructors, TAs and admins."""
    if course_role(session, course, user) not in STAFF_ROLES:
        raise ForbiddenError(f"only the staff of {course.slug!r} may do this")


def create_course(
    session: Session, creator: User, slug: str, title: str, *, term: str = "", late_days: int = 0, template: str = ""
) -> Course:
    """A new course with `creator` as its instructor (global instructors and admins only)."""
    if creator.role not in (Role.INSTRUCTOR, Role.ADMIN):
        raise ForbiddenError("only instructors and admins may create courses")
    check_slug(slug, "course")
    if not title.strip():
        raise ConflictError("a course needs a title")
    if late_days < 0:
        raise ConflictError("late_days cannot be negative")
    if session.scalar(select(Course.id).where(Course.slug == slug)) is not None:
        raise ConflictError(f"course {slug!r} already exists")
    course = Course(
        slug=slug, title=title.strip(), term=term, late_days=late_days, template=template, created_by_id=creator.id
    )
    session.add(course)
    session.flush()
    session.add(CourseMembership(course_id=course.id, user_id=creator.id, role=CourseRole.INSTRUCTOR))
    session.flush()
    return course


def get_course(session: Session, slug: str, viewer: User) -> Course:
    """A course its members and admins may see (NotFoundError for everyone else)."""
    course = session.scalar(select(Course).where(Course.slug == slug))
    if course is None or course_role(session, course, viewer) is None:
        raise NotFoundError(f"no course {slug!r}")
    return course


def list_courses(session: Session, viewer: User) -> list[tuple[Course, CourseRole]]:
    """The viewer's courses with their role in each (admins: every course), by slug."""
    if is_admin(viewer):
        return [(c, CourseRole.INSTRUCTOR) for c in session.scalars(select(Course).order_by(Course.slug))]
    rows = session.execute(
        select(Course, CourseMembership.role)
        .join(CourseMembership, CourseMembership.course_id == Course.id)
        .where(CourseMembership.user_id == viewer.id)
        .order_by(Course.slug)
    ).all()
    return [(c, r) for c, r in rows]


def update_course(session: Session, course: Course, viewer: User, changes: dict[str, Any]) -> Course:
    """Change a course's title, term or late-day budget (its instructors only)."""
    ensure_instructor(session, course, viewer)
    if "title" in changes and changes["title"] is not None:
        if not str(changes["title"]).strip():
            raise ConflictError("a course needs a title")
        course.title = str(changes["title"]).strip()
    if changes.get("term") is not None:
        course.term = str(changes["term"])
    if changes.get("late_days") is not None:
        if int(changes["late_days"]) < 0:
            raise ConflictError("late_days cannot be negative")
        course.late_days = int(changes["late_days"])
    session.flush()
    return course


def students(session: Session, course: Course) -> list[CourseMembership]:
    """The course's student memberships, by user name."""
    return list(
        session.scalars(
            select(CourseMembership)
            .join(User, User.id == CourseMembership.user_id)
            .where(CourseMembership.course_id == course.id, CourseMembership.role == CourseRole.STUDENT)
            .options(selectinload(CourseMembership.user))
            .order_by(User.name)
        )
    )


@dataclass
class AssignmentFields:
    """What an assignment is made of; on update, None means 'leave as it is' (use
    `clear_hard_close` and `clear_quotas` to remove those)."""

    slug: str | None = None
    title: str | None = None
    description: str | None = None
    position: int | None = None
    release_at: datetime | None = None
    due_at: datetime | None = None
    hard_close_at: datetime | None = None
    late_policy: LatePolicy | None = None
    late_penalty_pct: float | None = None
    results_policy: ResultsPolicy | None = None
    leaderboard: LeaderboardPolicy | None = None
    quota_per_day: int | None = None
    quota_total: int | None = None
    problems: list[tuple[str, float]] | None = None  # (slug, points), in order
    clear_hard_close: bool = False
    clear_quotas: bool = False


def _check_assignment(a: Assignment) -> None:
    if a.due_at < a.release_at:
        raise ConflictError("the due time is before the release time")
    if a.hard_close_at is not None and a.hard_close_at < a.due_at:
        raise ConflictError("the hard close is before the due time")
    if not 0 <= a.late_penalty_pct <= 100:
        raise ConflictError("late_penalty_pct must be between 0 and 100")
    for name in ("quota_per_day", "quota_total"):
        value = getattr(a, name)
        if value is not None and value < 1:
            raise ConflictError(f"{name} must be at least 1 (leave it out for no quota)")


def _set_problems(session: Session, assignment: Assignment, problems: list[tuple[str, float]]) -> None:
    slugs = [s for s, _ in problems]
    if len(set(slugs)) != len(slugs):
        raise ConflictError("an assignment lists each problem once")
    found = {p.slug: p for p in session.scalars(select(Problem).where(Problem.slug.in_(slugs)))}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise NotFoundError(f"no problem {missing[0]!r}")
    for _, points in problems:
        if points < 0:
            raise ConflictError("points cannot be negative")
    assignment.problems.clear()
    session.flush()
    for i, (slug, points) in enumerate(problems):
        assignment.problems.append(AssignmentProblem(problem_id=found[slug].id, position=i, points=float(points)))


_PLAIN = ("title", "description", "position", "release_at", "due_at", "hard_close_at", "late_policy",
          "late_penalty_pct", "results_policy", "leaderboard", "quota_per_day", "quota_total")


def create_assignment(session: Session, course: Course, viewer: User, f: AssignmentFields) -> Assignment:
    """Add an assignment to a course (its instructors only)."""
    ensure_instructor(session, course, viewer)
    slug = check_slug(f.slug or "", "assignment")
    if f.title is None or not f.title.strip() or f.release_at is None or f.due_at is None:
        raise ConflictError("an assignment needs a title, a release time and a due time")
    if session.scalar(select(Assignment.id).where(Assignment.course_id == course.id, Assignment.slug == slug)):
        raise ConflictError(f"assignment {slug!r} already exists in {course.slug!r}")
    position = f.position if f.position is not None else len(course.assignments)
    assignment = Assignment(course_id=course.id, slug=slug, title=f.title.strip(), position=position,
                            description=f.description or "", release_at=f.release_at, due_at=f.due_at,
                            hard_close_at=f.hard_close_at, late_policy=f.late_policy or LatePolicy.NONE,
                            late_penalty_pct=f.late_penalty_pct or 0.0,
                            results_policy=f.results_policy or ResultsPolicy.IMMEDIATE,
                            leaderboard=f.leaderboard or LeaderboardPolicy.ON,
                            quota_per_day=f.quota_per_day, quota_total=f.quota_total)
    _check_assignment(assignment)
    session.add(assignment)
    session.flush()
    _set_problems(session, assignment, f.problems or [])
    session.flush()
    return assignment


def update_assignment(session: Session, assignment: Assignment, viewer: User, f: AssignmentFields) -> Assignment:
    """Change an assignment (its course's instructors only); scores follow on the next read."""
    ensure_instructor(session, assignment.course, viewer)
    for name in _PLAIN:
        value = getattr(f, name)
        if value is not None:
            setattr(assignment, name, value.strip() if name == "title" else value)
    if f.clear_hard_close:
        assignment.hard_close_at = None
    if f.clear_quotas:
        assignment.quota_per_day = assignment.quota_total = None
    if not assignment.title:
        raise ConflictError("an assignment needs a title")
    _check_assignment(assignment)
    if f.problems is not None:
        _set_problems(session, assignment, f.problems)
    session.flush()
    return assignment


def get_assignment(session: Session, course: Course, slug: str, viewer: User) -> Assignment:
    """An assignment of a course; students see it only once released."""
    assignment = session.scalar(
        select(Assignment)
        .where(Assignment.course_id == course.id, Assignment.slug == slug)
        .options(selectinload(Assignment.problems).selectinload(AssignmentProblem.problem))
    )
    role = course_role(session, course, viewer)
    if assignment is None or role is None or (role is CourseRole.STUDENT and assignment.release_at > now()):
        raise NotFoundError(f"no assignment {slug!r} in {course.slug!r}")
    return assignment


def visible_assignments(session: Session, course: Course, viewer: User) -> list[Assignment]:
    """The course's assignments in order; students see the released ones only."""
    role = course_role(session, course, viewer)
    query = (
        select(Assignment)
        .where(Assignment.course_id == course.id)
        .options(selectinload(Assignment.problems).selectinload(AssignmentProblem.problem))
        .order_by(Assignment.position, Assignment.id)
    )
    if role is CourseRole.STUDENT:
        query = query.where(Assignment.release_at <= now())
    return list(session.scalars(query))


def delete_assignment(session: Session, assignment: Assignment, viewer: User) -> None:
    """Remove an assignment (its course's instructors only); submissions stay."""
    ensure_instructor(session, assignment.course, viewer)
    session.delete(assignment)
    session.flush()


def grant_extension(
    session: Session, assignment: Assignment, viewer: User, user_name: str, due_at: datetime, reason: str = ""
) -> Extension:
    """Give one student their own due time (course staff); granting again replaces it."""
    ensure_course_staff(session, assignment.course, viewer)
    student = session.scalar(select(User).where(User.name == user_name))
    member = membership(session, assignment.course, student) if student else None
    if student is None or member is None or member.role is not CourseRole.STUDENT:
        raise NotFoundError(f"no student {user_name!r} in {assignment.course.slug!r}")
    if due_at < assignment.release_at:
        raise ConflictError("an extension cannot end before the assignment is released")
    ext = session.scalar(
        select(Extension).where(Extension.assignment_id == assignment.id, Extension.user_id == student.id)
    )
    if ext is None:
        ext = Extension(assignment_id=assignment.id, user_id=student.id, due_at=due_at)
        session.add(ext)
    ext.due_at, ext.reason, ext.granted_by_id = due_at, reason[:500], viewer.id
    session.flush()
    return ext


def revoke_extension(session: Session, assignment: Assignment, viewer: User, user_name: str) -> None:
    """Take a student's extension back (course staff)."""
    ensure_course_staff(session, assignment.course, viewer)
    ext = session.scalar(
        select(Extension)
        .join(User, User.id == Extension.user_id)
        .where(Extension.assignment_id == assignment.id, User.name == user_name)
    )
    if ext is None:
        raise NotFoundError(f"{user_name!r} has no extension on {assignment.slug!r}")
    session.delete(ext)
    session.flush()


def extension_for(session: Session, assignment: Assignment, user: User) -> Extension | None:
    """A student's extension on an assignment, if any."""
    return session.scalar(
        select(Extension).where(Extension.assignment_id == assignment.id, Extension.user_id == user.id)
    )


def course_extensions(session: Session, course: Course, viewer: User) -> list[Extension]:
    """Every extension granted on the course's assignments (course staff), by assignment
    order, then student name."""
    ensure_course_staff(session, course, viewer)
    return list(session.scalars(
        select(Extension)
        .join(Assignment, Assignment.id == Extension.assignment_id)
        .join(User, User.id == Extension.user_id)
        .where(Assignment.course_id == course.id)
        .options(selectinload(Extension.assignment), selectinload(Extension.user))
        .order_by(Assignment.position, Assignment.id, User.name)
    ))


def sections(session: Session, course: Course) -> dict[str, int]:
    """section -> how many students are in it ('' for none), by section name."""
    counts: dict[str, int] = {}
    for m in students(session, course):
        counts[m.section] = counts.get(m.section, 0) + 1
    return dict(sorted(counts.items()))
