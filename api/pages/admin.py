"""Admin pages: users and roles; the grading system (sandbox, workers, queues)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, SettingsDep
from api.pages.common import Admin, check_csrf, page, redirect
from core.db.models import Role
from core.services import system_status
from core.services import users as user_service
from core.services.errors import ConflictError

router = APIRouter()


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, admin: Admin) -> HTMLResponse:
    """Every user with role and status, and a form to add one."""
    return page(
        request,
        "admin/users.html",
        users=user_service.list_users(session),
        roles=[r.value for r in Role],
        new_token="",
    )


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    session: SessionDep,
    admin: Admin,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Add a user; shows their first API token once."""
    check_csrf(request, csrf)
    user = user_service.create_user(session, name.strip(), user_service.parse_role(role), password or None)
    token = user_service.issue_token(session, user, "created on the admin page")
    session.commit()
    return page(
        request,
        "admin/users.html",
        users=user_service.list_users(session),
        roles=[r.value for r in Role],
        new_token=token,
        new_user=user.name,
        flash=f"User {user.name} created.",
    )


@router.post("/admin/users/{user_id}")
def update_user(
    request: Request,
    user_id: int,
    session: SessionDep,
    admin: Admin,
    role: Annotated[str, Form()],
    active: Annotated[bool, Form()] = False,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Change a user's role and whether they may sign in."""
    check_csrf(request, csrf)
    user = user_service.get_user(session, user_id)
    if user.id == admin.id and (not active or role != Role.ADMIN.value):
        raise ConflictError("You cannot demote or deactivate yourself; ask another admin.")
    user_service.update_user(session, user, role=user_service.parse_role(role), is_active=active)
    session.commit()
    return redirect(
        "/admin/users", f"Saved {user.name}: {user.role.value}, {'active' if active else 'inactive'}."
    )


@router.get("/admin/system", response_class=HTMLResponse)
def system_page(request: Request, session: SessionDep, settings: SettingsDep, admin: Admin) -> HTMLResponse:
    """The grading side: sandbox backend and uid, live workers, queue depth."""
    live = system_status.workers(session, settings)
    return page(
        request,
        "admin/system.html",
        sandbox=system_status.sandbox(session, settings, live),
        workers=live,
        depth=system_status.queue_depth(session),
    )
