"""Course staff pages beside the assignments: the course's settings (title, term, late-day
budget; sections as the roster sets them) and the list of extensions, each with a Revoke
button. They call the same services as the API and the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.pages.common import SignedIn, check_csrf, page, redirect
from api.pages.courses import FormError
from core.services import courses
from core.services.courses import ensure_course_staff, ensure_instructor

router = APIRouter()


@router.get("/courses/{slug}/settings", response_class=HTMLResponse)
def settings_page(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """The course's title, term and late-day budget in a form, and its sections (instructors)."""
    course = courses.get_course(session, slug, user)
    ensure_instructor(session, course, user)
    return page(request, "course/settings.html", course=course, sections=courses.sections(session, course))


def _late_days(value: str) -> int:
    value = value.strip()
    if not value.isdigit():
        raise FormError("late days: a whole number, 0 or more")
    return int(value)


@router.post("/courses/{slug}/settings")
def save_settings(
    request: Request, slug: str, session: SessionDep, user: SignedIn,
    title: Annotated[str, Form(max_length=200)], term: Annotated[str, Form(max_length=64)] = "",
    late_days: Annotated[str, Form(max_length=9)] = "0", csrf: Annotated[str, Form()] = "",
) -> Response:
    """Save the settings form; scores that depend on late days follow on the next read."""
    check_csrf(request, csrf)
    course = courses.get_course(session, slug, user)
    courses.update_course(session, course, user, {"title": title, "term": term, "late_days": _late_days(late_days)})
    session.commit()
    return redirect(f"/courses/{slug}/settings", "Course settings saved.")


@router.get("/courses/{slug}/extensions", response_class=HTMLResponse)
def extensions_page(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Every extension in the course, each with a Revoke button (course staff)."""
    course = courses.get_course(session, slug, user)
    ensure_course_staff(session, course, user)
    return page(request, "course/extensions.html", course=course,
                extensions=courses.course_extensions(session, course, user))


@router.post("/courses/{slug}/assignments/{name}/extensions/{student}/revoke")
def revoke_extension(
    request: Request, slug: str, name: str, student: str, session: SessionDep, user: SignedIn,
    csrf: Annotated[str, Form()] = "", back: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Take a student's extension back (course staff); back to the page the button was on."""
    check_csrf(request, csrf)
    a = courses.get_assignment(session, courses.get_course(session, slug, user), name, user)
    courses.revoke_extension(session, a, user, student)
    session.commit()
    target = f"/courses/{slug}/assignments/{name}" if back == "assignment" else f"/courses/{slug}/extensions"
    return redirect(target, f"Extension for {student} on {a.title} revoked.")
