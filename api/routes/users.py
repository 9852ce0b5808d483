"""Admin user management: list, create (with a first token), update, issue tokens."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AdminUser, IdPath, SessionDep
from api.schemas import TokenPublic, UserCreate, UserPublic, UserUpdate
from core.services import users as user_service

router = APIRouter(prefix="/admin/users", tags=["admin"])


@router.get("", response_model=list[UserPublic])
def list_users(session: SessionDep, admin: AdminUser) -> list[UserPublic]:
    """Every user."""
    return [UserPublic.model_validate(u) for u in user_service.list_users(session)]


@router.post("", response_model=TokenPublic, status_code=201)
def create_user(body: UserCreate, session: SessionDep, admin: AdminUser) -> TokenPublic:
    """Create a user and return a first API token for them."""
    user = user_service.create_user(session, body.name, body.role, body.password)
    token = user_service.issue_token(session, user, "created by admin")
    session.commit()
    return TokenPublic(token=token, user=UserPublic.model_validate(user))


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: IdPath, body: UserUpdate, session: SessionDep, admin: AdminUser) -> UserPublic:
    """Change a user's role, activity or password."""
    user = user_service.get_user(session, user_id)
    user_service.update_user(session, user, role=body.role, is_active=body.is_active, password=body.password)
    session.commit()
    return UserPublic.model_validate(user)


@router.post("/{user_id}/tokens", response_model=TokenPublic, status_code=201)
def issue_token(user_id: IdPath, session: SessionDep, admin: AdminUser) -> TokenPublic:
    """Issue another API token for a user."""
    user = user_service.get_user(session, user_id)
    token = user_service.issue_token(session, user, "issued by admin")
    session.commit()
    return TokenPublic(token=token, user=UserPublic.model_validate(user))


@router.delete("/{user_id}/tokens", response_model=UserPublic)
def revoke_tokens(user_id: IdPath, session: SessionDep, admin: AdminUser) -> UserPublic:
    """Revoke every token of a user."""
    user = user_service.get_user(session, user_id)
    user_service.revoke_tokens(session, user)
    session.commit()
    return UserPublic.model_validate(user)
