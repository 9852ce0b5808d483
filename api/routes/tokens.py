"""The caller's own API tokens: list, create (shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, IdPath, SessionDep
from api.schemas import TokenCreate, TokenInfo, TokenPublic, UserPublic
from core.services import users as user_service

router = APIRouter(prefix="/auth/tokens", tags=["auth"])


@router.get("", response_model=list[TokenInfo])
def list_tokens(session: SessionDep, user: CurrentUser) -> list[TokenInfo]:
    """My unrevoked tokens, newest first (labels and dates; never the tokens themselves)."""
    return [TokenInfo.model_validate(t) for t in user_service.list_tokens(session, user)]


@router.post("", response_model=TokenPublic, status_code=201)
def create_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenPublic:
    """Issue another token for myself; the response is the only time it is shown."""
    token = user_service.issue_token(session, user, body.label or "api")
    session.commit()
    return TokenPublic(token=token, user=UserPublic.model_validate(user))


@router.delete("/{token_id}", response_model=TokenInfo)
def revoke_token(token_id: IdPath, session: SessionDep, user: CurrentUser) -> TokenInfo:
    """Revoke one of my tokens (it stops working at once)."""
    row = user_service.revoke_token(session, user, token_id)
    session.commit()
    return TokenInfo.model_validate(row)
