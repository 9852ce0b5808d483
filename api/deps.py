"""Dependencies shared by the routers: settings, a DB session, the caller, the dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.dispatch import Dispatcher
from core.db.base import session_factory
from core.db.models import Role, User
from core.services import users as user_service
from core.services.errors import AuthError, ForbiddenError
from core.settings import Settings

TOKEN_COOKIE = "tensorjudge_token"
_bearer = HTTPBearer(auto_error=False, description="An API token from POST /api/v1/auth/login")


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request; rolls back whatever the route did not commit."""
    session = session_factory(settings.effective_database_url)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_dispatcher(request: Request) -> Dispatcher:
    """The job dispatcher the app was built with."""
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]


def get_optional_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    """The caller from a bearer token (or the pages' cookie), None when anonymous."""
    token = credentials.credentials if credentials else request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    user = user_service.user_for_token(session, token)
    if user is None:
        raise AuthError("invalid or revoked token")
    if session.dirty:
        session.commit()  # last_used_at
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUser) -> User:
    """The authenticated caller."""
    if user is None:
        raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_staff_user(user: CurrentUser) -> User:
    """An instructor or an admin."""
    if user.role not in (Role.INSTRUCTOR, Role.ADMIN):
        raise ForbiddenError("instructors and admins only")
    return user


StaffUser = Annotated[User, Depends(get_staff_user)]


def get_admin_user(user: CurrentUser) -> User:
    """An admin."""
    if user.role is not Role.ADMIN:
        raise ForbiddenError("admins only")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a numeric id")]


def login_args(request: Request) -> dict[str, Any]:
    """The app's sign-in throttle and the peer address (behind a proxy, run uvicorn with
    --proxy-headers so this is the real client's), for users.login()."""
    return {"throttle": request.app.state.login_throttle,
            "client": request.client.host if request.client else ""}
