"""Courses: rosters, invites, assignments, extensions, gradebooks and course templates."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session

from api.course_schemas import (
    AssignmentBody,
    CourseCreate,
    CourseUpdate,
    ExtensionBody,
    TemplateInstantiate,
    assignment_public,
    course_public,
    row_public,
)
from api.deps import CurrentUser, SessionDep, SettingsDep
from core.db.course_models import Assignment, Course
from core.db.models import User
from core.services import course_templates, courses, gradebook, invites, roster
from core.services.courses import course_role, ensure_course_staff

router = APIRouter(tags=["courses"])

SlugPath = Annotated[str, Path(max_length=64)]


def _course(session: Session, slug: str, user: User) -> Course:
    return courses.get_course(session, slug, user)


def _assignment(session: Session, slug: str, name: str, user: User) -> Assignment:
    return courses.get_assignment(session, _course(session, slug, user), name, user)


@router.get("/courses")
def list_courses(session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """The caller's courses and their role in each (admins: every course)."""
    return [course_public(c, r.value) for c, r in courses.list_courses(session, user)]


@router.post("/courses", status_code=201)
def create_course(body: CourseCreate, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Create a course; the caller (an instructor or admin) becomes its instructor."""
    course = courses.create_course(session, user, body.slug, body.title, term=body.term, late_days=body.late_days)
    session.commit()
    return course_public(course, "instructor")


@router.get("/courses/{slug}")
def get_course(slug: SlugPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """A course and the assignments the caller may see (students: released ones)."""
    course = _course(session, slug, user)
    role = course_role(session, course, user)
    assert role is not None
    out = course_public(course, role.value)
    out["assignments"] = [assignment_public(a) for a in courses.visible_assignments(session, course, user)]
    return out


@router.patch("/courses/{slug}")
def update_course(slug: SlugPath, body: CourseUpdate, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Change a course's title, term or late-day budget (its instructors)."""
    course = courses.update_course(session, _course(session, slug, user), user, body.model_dump())
    session.commit()
    return course_public(course, "instructor")


@router.post("/courses/{slug}/roster")
async def import_roster(
    slug: SlugPath,
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="CSV: username, display_name, email, section[, role]")],
) -> dict[str, Any]:
    """Enroll the users of a CSV roster; a report line per row (created, updated, unchanged, refused)."""
    data = await file.read(roster.MAX_BYTES + 1)
    reports = roster.import_roster(session, _course(session, slug, user), user, data)
    session.commit()
    return roster.summary(reports)


@router.get("/courses/{slug}/roster")
def get_roster(slug: SlugPath, session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Every member with role, section, display name and email (course staff)."""
    course = _course(session, slug, user)
    ensure_course_staff(session, course, user)
    return [{"user": m.user.name, "role": m.role.value, "section": m.section, "display_name": m.display_name,
             "email": m.email} for m in sorted(course.members, key=lambda m: m.user.name)]


class InviteBody(BaseModel):
    """Whom to invite: the named students, or (users left out) every student without a password."""

    users: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        None, max_length=5000)


def _issue(slug: str, body: InviteBody | None, request: Request, session: Session, user: User,
           valid_days: int) -> tuple[list[invites.IssuedInvite], list[invites.Skipped], str]:
    issued, skipped = invites.issue(session, _course(session, slug, user), user, timedelta(days=valid_days),
                                    body.users if body else None)
    session.commit()
    return issued, skipped, str(request.base_url)


@router.post("/courses/{slug}/invites", status_code=201)
def create_invites(
    slug: SlugPath, request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep,
    body: InviteBody | None = None,
) -> dict[str, Any]:
    """One-time links that set a first password, for students without one (the course's
    instructors). A new invite revokes the user's older unused one. Nothing is mailed."""
    issued, skipped, base = _issue(slug, body, request, session, user, settings.invite_valid_days)
    return {"invites": [{"user": i.user, "name": i.name, "email": i.email, "link": invites.link(base, i.token),
                         "expires_at": i.expires_at} for i in issued],
            "skipped": [{"user": s.user, "reason": s.reason} for s in skipped]}


@router.post("/courses/{slug}/invites.csv", response_class=PlainTextResponse)
def create_invites_csv(
    slug: SlugPath, request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep,
    body: InviteBody | None = None,
) -> PlainTextResponse:
    """The same invites as a CSV (user,name,email,link) for a mail merge."""
    issued, _, base = _issue(slug, body, request, session, user, settings.invite_valid_days)
    return PlainTextResponse(invites.to_csv(issued, base), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{slug}-invites.csv"'})


@router.post("/courses/{slug}/assignments", status_code=201)
def create_assignment(slug: SlugPath, body: AssignmentBody, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Add an assignment: problems with points, release and due times, policies, quotas."""
    assignment = courses.create_assignment(session, _course(session, slug, user), user, body.fields())
    session.commit()
    session.refresh(assignment)
    return assignment_public(assignment)


@router.get("/courses/{slug}/assignments/{name}")
def get_assignment(slug: SlugPath, name: SlugPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """An assignment; a student also gets their own scores, due time and lateness."""
    assignment = _assignment(session, slug, name, user)
    out = assignment_public(assignment)
    mine = gradebook.student_row(session, assignment, user)
    out["mine"] = row_public(mine) if mine else None
    return out


@router.patch("/courses/{slug}/assignments/{name}")
def update_assignment(
    slug: SlugPath, name: SlugPath, body: AssignmentBody, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Change an assignment (dates, policies, quotas, problems); scores follow on the next read."""
    assignment = courses.update_assignment(session, _assignment(session, slug, name, user), user, body.fields())
    session.commit()
    session.refresh(assignment)
    return assignment_public(assignment)


@router.delete("/courses/{slug}/assignments/{name}", status_code=204)
def delete_assignment(slug: SlugPath, name: SlugPath, session: SessionDep, user: CurrentUser) -> Response:
    """Remove an assignment (its submissions stay)."""
    courses.delete_assignment(session, _assignment(session, slug, name, user), user)
    session.commit()
    return Response(status_code=204)


@router.put("/courses/{slug}/assignments/{name}/extensions/{user_name}")
def grant_extension(
    slug: SlugPath, name: SlugPath, user_name: SlugPath, body: ExtensionBody, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Give a student their own due time (course staff); it also moves their hard close."""
    ext = courses.grant_extension(session, _assignment(session, slug, name, user), user, user_name, body.due_at,
                                  body.reason)
    session.commit()
    return {"user": user_name, "due_at": ext.due_at, "reason": ext.reason}


@router.delete("/courses/{slug}/assignments/{name}/extensions/{user_name}", status_code=204)
def revoke_extension(
    slug: SlugPath, name: SlugPath, user_name: SlugPath, session: SessionDep, user: CurrentUser
) -> Response:
    """Take a student's extension back (course staff)."""
    courses.revoke_extension(session, _assignment(session, slug, name, user), user, user_name)
    session.commit()
    return Response(status_code=204)


@router.get("/courses/{slug}/assignments/{name}/gradebook")
def get_gradebook(
    slug: SlugPath, name: SlugPath, session: SessionDep, user: CurrentUser,
    section: str = Query("", max_length=64),
) -> dict[str, Any]:
    """Every student's score per problem with lateness and penalties (course staff)."""
    assignment = _assignment(session, slug, name, user)
    rows = gradebook.gradebook(session, assignment, user, section)
    return {"assignment": assignment_public(assignment), "max_total": gradebook.max_total(assignment),
            "rows": [row_public(r) for r in rows]}


@router.get("/courses/{slug}/assignments/{name}/gradebook.csv", response_class=PlainTextResponse)
def gradebook_csv(slug: SlugPath, name: SlugPath, session: SessionDep, user: CurrentUser) -> PlainTextResponse:
    """The gradebook as CSV (course staff)."""
    assignment = _assignment(session, slug, name, user)
    text = gradebook.to_csv(assignment, gradebook.gradebook(session, assignment, user))
    return PlainTextResponse(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{slug}-{name}-grades.csv"'})


@router.get("/courses/{slug}/assignments/{name}/gradescope.json")
def gradebook_gradescope(slug: SlugPath, name: SlugPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The gradebook as Gradescope-style results, one test per problem (course staff)."""
    assignment = _assignment(session, slug, name, user)
    return gradebook.to_gradescope(assignment, gradebook.gradebook(session, assignment, user))


@router.get("/course-templates")
def list_templates(user: CurrentUser) -> list[dict[str, Any]]:
    """The ready-made courses and their assignments."""
    return [t.model_dump() for t in course_templates.list_templates()]


@router.post("/course-templates/{name}/instantiate", status_code=201)
def instantiate_template(
    name: SlugPath, body: TemplateInstantiate, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Create a course from a template with every date counted from `start` (one action)."""
    course = course_templates.instantiate(session, user, name, body.slug, body.start, body.title, body.term)
    session.commit()
    out = course_public(course, "instructor")
    out["assignments"] = [assignment_public(a) for a in courses.visible_assignments(session, course, user)]
    return out
