"""Course staff pages beside the assignments: the course's settings (title, term, late-day
budget; sections as the roster sets them), the list of extensions, each with a Revoke
button, and the roster's invites CSV; plus the invite page itself, where a student opening
their one-time link sets a password. They call the same services as the API and the CLI."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.deps import TOKEN_COOKIE, SessionDep, SettingsDep
from api.pages.common import SignedIn, check_csrf, page, redirect
from api.pages.courses import FormError
from core.services import courses, invites
from core.services.courses import ensure_course_staff, ensure_instructor
from core.services.errors import ConflictError

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


@router.post("/courses/{slug}/roster/invites.csv")
def invites_download(
    request: Request, slug: str, session: SessionDep, user: SignedIn, settings: SettingsDep,
    csrf: Annotated[str, Form()] = "",
) -> PlainTextResponse:
    """New invite links for every student without a password, as a CSV download (instructors)."""
    check_csrf(request, csrf)
    course = courses.get_course(session, slug, user)
    issued, _ = invites.issue(session, course, user, timedelta(days=settings.invite_valid_days))
    session.commit()
    return PlainTextResponse(invites.to_csv(issued, str(request.base_url)), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{slug}-invites.csv"'})


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    """The form where an invited student sets their password (404 saying why for a bad link)."""
    invite = invites.find(session, token)
    return page(request, "course/invite.html", invite=invite, token=token, error="")


@router.post("/invite/{token}")
def accept_invite(
    request: Request, token: str, session: SessionDep,
    password: Annotated[str, Form(max_length=256)], confirm: Annotated[str, Form(max_length=256)],
) -> Response:
    """Set the password, use the invite up, sign the student in and open their courses."""
    try:
        user, session_token = invites.accept(session, token, password, confirm)
    except ConflictError as exc:  # a password the rules refuse: the form again, with the reason
        session.rollback()
        return page(request, "course/invite.html", status_code=400, invite=invites.find(session, token),
                    token=token, error=str(exc))
    session.commit()
    response = redirect("/courses", f"Password set. Welcome, {user.name}.")
    response.set_cookie(TOKEN_COOKIE, session_token, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", max_age=14 * 24 * 3600)
    return response
