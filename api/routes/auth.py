"""Logging in (name + password -> API token) and who am I."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.schemas import LoginRequest, TokenPublic, UserPublic
from core.services import users as user_service

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenPublic)
def login(body: LoginRequest, session: SessionDep) -> TokenPublic:
    """Exchange a name and password for a new bearer token."""
    token = user_service.login(session, body.name, body.password)
    user = user_service.get_user_by_name(session, body.name)
    session.commit()
    return TokenPublic(token=token, user=UserPublic.model_validate(user))


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    """The authenticated caller."""
    return UserPublic.model_validate(user)
