"""Logging in (name + password -> API token) and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import CurrentUser, SessionDep, login_args
from api.schemas import LoginRequest, TokenPublic, UserPublic
from core.services import users as user_service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenPublic)
def login(body: LoginRequest, request: Request, session: SessionDep) -> TokenPublic:
    """Exchange a name and password for a new bearer token.

    After `TENSORJUDGE_LOGIN_MAX_FAILURES` wrong passwords for one name from one client within
    `TENSORJUDGE_LOGIN_WINDOW_S` seconds, that pair gets 429 with Retry-After.
    """
    token = user_service.login(session, body.name, body.password, **login_args(request))
    user = user_service.get_user_by_name(session, body.name)
    session.commit()
    return TokenPublic(token=token, user=UserPublic.model_validate(user))


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """The authenticated caller."""
    return UserPublic.model_validate(user)
