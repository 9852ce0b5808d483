"""Ready-made courses: TOML files under core/course_templates/, one per course, each listing
assignments with release, due and hard-close days counted from a start date, late policy and
problems with points. Instantiating one creates the course and all its assignments, every
date shifted by the same start (one call, not committed)."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.course_models import Course, LatePolicy, LeaderboardPolicy, ResultsPolicy
from core.db.models import Problem, User
from core.errors import TensorJudgeError
from core.services import courses
from core.services.errors import NotFoundError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "course_templates"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


class TemplateError(TensorJudgeError):
    """A template file is missing or malformed (the message names the file, not its path)."""


class TemplateProblem(BaseModel):
    """One problem of a template assignment."""

    model_config = ConfigDict(extra="forbid")
    slug: str
    points: float = Field(ge=0)
    task: str = ""
    optional: bool = False


class TemplateAssignment(BaseModel):
    """One assignment, its days counted from the course's start."""

    model_config = ConfigDict(extra="forbid")
    slug: str
    title: str
    release_day: float = 0
    due_day: float
    hard_close_day: float | None = None
    late_policy: Literal["none", "per_day", "per_hour", "late_days"] = "none"
    late_penalty_pct: float = Field(default=0, ge=0, le=100)
    results_policy: Literal["immediate", "after_due"] = "immediate"
    leaderboard: Literal["on", "off", "anonymous"] = "on"
    quota_per_day: int | None = Field(default=None, ge=1)
    quota_total: int | None = Field(default=None, ge=1)
    points_published: bool = False  # whether the course itself publishes these points
    problems: list[TemplateProblem]

    @model_validator(mode="after")
    def _order(self) -> TemplateAssignment:
        if self.due_day < self.release_day:
            raise ValueError(f"{self.slug}: due_day is before release_day")
        if self.hard_close_day is not None and self.hard_close_day < self.due_day:
            raise ValueError(f"{self.slug}: hard_close_day is before due_day")
        return self


class CourseTemplate(BaseModel):
    """A whole ready-made course."""

    model_config = ConfigDict(extra="forbid")
    name: str
    title: str
    source: str = ""
    late_days: int = Field(default=0, ge=0)
    assignments: list[TemplateAssignment]


def load_template(name: str, directory: Path = TEMPLATES_DIR) -> CourseTemplate:
    """The template called `name` (its file is `<name>.toml`)."""
    if not _NAME.match(name):
        raise NotFoundError(f"no course template {name!r}")
    path = directory / f"{name}.toml"
    if not path.is_file():
        raise NotFoundError(f"no course template {name!r}")
    try:
        return CourseTemplate.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise TemplateError(f"course template {name}.toml: {exc}") from None


def list_templates(directory: Path = TEMPLATES_DIR) -> list[CourseTemplate]:
    """Every template, by name."""
    return [load_template(p.stem, directory) for p in sorted(directory.glob("*.toml"))]


def instantiate(
    session: Session, creator: User, name: str, slug: str, start: datetime, title: str | None = None,
    term: str = "",
) -> Course:
    """Create course `slug` from template `name`, its dates counted from `start`. Every problem
    the template names must be on this server (NotFoundError naming the missing ones)."""
    template = load_template(name)
    wanted = {p.slug for a in template.assignments for p in a.problems}
    present = set(session.scalars(select(Problem.slug).where(Problem.slug.in_(wanted))))
    missing = sorted(wanted - present)
    if missing:
        raise NotFoundError(f"template {name!r} needs problems this server does not have: {', '.join(missing)}")
    course = courses.create_course(session, creator, slug, title or template.title, term=term,
                                   late_days=template.late_days, template=template.name)

    def day(n: float) -> datetime:
        return start + timedelta(days=n)

    for i, a in enumerate(template.assignments):
        courses.create_assignment(session, course, creator, courses.AssignmentFields(
            slug=a.slug, title=a.title, position=i, description=_description(a),
            release_at=day(a.release_day), due_at=day(a.due_day),
            hard_close_at=day(a.hard_close_day) if a.hard_close_day is not None else None,
            late_policy=LatePolicy(a.late_policy), late_penalty_pct=a.late_penalty_pct,
            results_policy=ResultsPolicy(a.results_policy), leaderboard=LeaderboardPolicy(a.leaderboard),
            quota_per_day=a.quota_per_day, quota_total=a.quota_total,
            problems=[(p.slug, p.points) for p in a.problems]))
    session.refresh(course)
    return course


def _description(a: TemplateAssignment) -> str:
    lines = [f"- {p.slug}: {p.task}" + (" (optional)" if p.optional else "") for p in a.problems if p.task]
    if not a.points_published:
        lines.append("Points: the course does not publish this split; these are the template's.")
    return "\n".join(lines)
