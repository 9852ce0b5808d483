"""The signed-in user's own API tokens: create one for the CLI, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.pages.common import SignedIn, check_csrf, page, redirect
from core.auth import hash_token
from core.db.models import User
from core.services import users as user_service

router = APIRouter()


def _tokens_page(request: Request, session: SessionDep, user: User, new_token: str = "") -> HTMLResponse:
    current = getattr(request.state, "token", None)
    current_hash = hash_token(current) if current else ""
    return page(
        request,
        "tokens.html",
        tokens=user_service.list_tokens(session, user),
        current_hash=current_hash,
        new_token=new_token,
        server=str(request.base_url).rstrip("/"),
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """My tokens (label, created, last used) and a form to create one for the CLI."""
    return _tokens_page(request, session, user)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    session: SessionDep,
    user: SignedIn,
    csrf: Annotated[str, Form()] = "",
    label: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """Create a token and show it once."""
    check_csrf(request, csrf)
    token = user_service.issue_token(session, user, label.strip() or "created on the tokens page")
    session.commit()
    return _tokens_page(request, session, user, new_token=token)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: int, session: SessionDep, user: SignedIn, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Revoke one of my tokens."""
    check_csrf(request, csrf)
    user_service.revoke_token(session, user, token_id)
    session.commit()
    return redirect("/tokens", "Token revoked.")
