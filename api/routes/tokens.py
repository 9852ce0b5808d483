"""The caller's own API tokens: list, create (shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CallerDep, CurrentUser, IdPath, SessionDep
from api.schemas import Message, TokenCreate, TokenInfo, TokenPublic, UserPublic
from core.services import users as user_service
from core.services import web_queries

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


@router.delete("/current", response_model=Message)
def revoke_current(session: SessionDep, user: CurrentUser, caller: CallerDep) -> Message:
    """Revoke the token this request carries (what `tensorjudge logout` does)."""
    if caller.token:
        web_queries.revoke_token(session, caller.token)
        session.commit()
    return Message(detail="token revoked")


@router.delete("/{token_id}", response_model=TokenInfo)
def revoke_token(token_id: IdPath, session: SessionDep, user: CurrentUser) -> TokenInfo:
    """Revoke one of my tokens (it stops working at once)."""
    row = user_service.revoke_token(session, user, token_id)
    session.commit()
    return TokenInfo.model_validate(row)
