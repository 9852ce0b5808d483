"""Factories for the course tests: bundled problems, a course with a roster, graded rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.models import Problem, Role, Submission, SubmissionStatus, User
from core.services import problems as problem_service
from core.services import roster
from core.services import users as user_service
from core.services.courses import create_course
from core.settings import REPO_ROOT

# Three bundled problems (the must-show assignment); their packages load quickly.
BUNDLED = ("multi-head-matmul", "importance-matmul", "manual-linear")


def publish_bundled(session: Session, slugs: tuple[str, ...] = BUNDLED) -> dict[str, float]:
    """Stage and publish bundled problems; returns slug -> max score."""
    out = {}
    for slug in slugs:
        version = problem_service.stage_directory(session, REPO_ROOT / "problems" / slug)
        problem_service.publish(session, slug, version.id, force=True)
        out[slug] = float(version.summary["max_score"])
    session.commit()
    return out


def roster_csv(n: int, sections: int = 3) -> bytes:
    """A roster of n students s001.. with display names, emails and sections."""
    lines = ["User Name,Display Name,Email,Section"]
    lines += [f"s{i:03d},Student {i},s{i:03d}@uni.example,sec-{i % sections}" for i in range(1, n + 1)]
    return ("\n".join(lines) + "\n").encode()


def course_with_roster(session: Session, n: int = 300, slug: str = "llm-2025") -> tuple[User, int]:
    """An instructor 'ines' and a course with n students; returns (instructor, course id)."""
    ines = user_service.create_user(session, "ines", Role.INSTRUCTOR, "ines-password")
    course = create_course(session, ines, slug, "LLM course", late_days=3)
    reports = roster.import_roster(session, course, ines, roster_csv(n))
    assert [r.action for r in reports] == ["created"] * n
    session.commit()
    return ines, course.id


def graded(session: Session, user: str, slug: str, score: float, at: datetime) -> int:
    """A finished submission row (grading itself is not what such a test is about)."""
    problem = session.scalars(select(Problem).where(Problem.slug == slug)).one()
    version = problem.current_version
    assert version is not None
    sub = Submission(
        user_id=session.scalars(select(User.id).where(User.name == user)).one(),
        problem_id=problem.id,
        problem_version_id=version.id,
        status=SubmissionStatus.DONE,
        verdict="accepted" if score >= float(version.summary["max_score"]) else "wrong_answer",
        score=score,
        max_score=float(version.summary["max_score"]),
        created_at=at,
    )
    session.add(sub)
    session.commit()
    return sub.id
