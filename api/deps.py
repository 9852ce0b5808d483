"""Dependencies shared by the API routers and the pages: settings, a DB session, the caller
(one token lookup and one set of role checks for both), the dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the token it carried (a bearer header, else the pages' cookie) and
    the user that token belongs to (None when there is no token or it matches nobody)."""

    user: User | None
    token: str | None
    from_cookie: bool


def get_caller(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Resolve the caller once per request, for the API and the pages alike. The token and
    where it came from are kept on request.state for the pages' CSRF check."""
    token: str | None = credentials.credentials if credentials else request.cookies.get(TOKEN_COOKIE)
    from_cookie = credentials is None
    token = token or None
    user = user_service.user_for_token(session, token) if token else None
    if user is not None and session.dirty:
        session.commit()  # last_used_at
    request.state.token, request.state.token_from_cookie = token, from_cookie
    return Caller(user, token, from_cookie)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_optional_user(caller: CallerDep) -> User | None:
    """The API's caller, None when anonymous; a token that matches nobody is refused (the
    pages instead treat a stale cookie as anonymous, see api.pages.common)."""
    if caller.token and caller.user is None:
        raise AuthError("invalid or revoked token")
    return caller.user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def get_current_user(user: OptionalUser) -> User:
    """The authenticated caller."""
    if user is None:
        raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]

STAFF_ROLES = (Role.INSTRUCTOR, Role.ADMIN)


def ensure_staff(user: User) -> User:
    """`user` if an instructor or an admin (the API and the pages check with this)."""
    if user.role not in STAFF_ROLES:
        raise ForbiddenError("instructors and admins only")
    return user


def ensure_admin(user: User) -> User:
    """`user` if an admin (the API and the pages check with this)."""
    if user.role is not Role.ADMIN:
        raise ForbiddenError("admins only")
    return user


def get_staff_user(user: CurrentUser) -> User:
    """An instructor or an admin."""
    return ensure_staff(user)


StaffUser = Annotated[User, Depends(get_staff_user)]


def get_admin_user(user: CurrentUser) -> User:
    """An admin."""
    return ensure_admin(user)


AdminUser = Annotated[User, Depends(get_admin_user)]


MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a numeric id")]


def login_args(request: Request) -> dict[str, Any]:
    """The app's sign-in throttle and the peer address (behind a proxy, run uvicorn with
    --proxy-headers so this is the real client's), for users.login()."""
    return {"throttle": request.app.state.login_throttle,
            "client": request.client.host if request.client else ""}
