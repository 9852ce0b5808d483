"""What every page router shares: templates, the signed-in user, CSRF tokens, redirects."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.deps import CallerDep, ensure_admin, ensure_staff
from api.pages import feedback_view, render
from core.db.models import Role, User
from core.services.errors import AuthError, ForbiddenError
from core.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters.update(
    verdict_label=render.verdict_label,
    ratio=render.format_ratio,
    when=render.format_when,
    num=render.format_number,
    inline_code=render.inline_code,
    limit_label=render.limit_label,
)
templates.env.globals.update(
    heatmap_svg=render.heatmap_svg, histogram_svg=render.histogram_svg, markdown=render.markdown,
    expected_vs_got=feedback_view.expected_vs_got,
)


@dataclass(frozen=True)
class Viewer:
    """What the page layout needs of the signed-in user, detached from any DB session
    (error pages render after the request's session is gone)."""

    id: int
    name: str
    role: Role


class LoginRequired(AuthError):
    """Raised by pages that need a signed-in user: a 401 in the shared status table, and
    browsers asking for a page are sent to /login instead."""


def get_page_user(request: Request, caller: CallerDep) -> User | None:
    """The viewer (the caller the API sees too); a stale cookie means anonymous here."""
    if caller.user is not None:
        request.state.viewer = Viewer(caller.user.id, caller.user.name, caller.user.role)
    return caller.user


PageUser = Annotated[User | None, Depends(get_page_user)]


def require_user(user: PageUser) -> User:
    """A signed-in viewer (anonymous browsers are redirected to sign in)."""
    if user is None:
        raise LoginRequired("Sign in to see this page.")
    return user


SignedIn = Annotated[User, Depends(require_user)]


def require_staff(user: SignedIn) -> User:
    """An instructor or an admin."""
    return ensure_staff(user)


Staff = Annotated[User, Depends(require_staff)]


def require_admin(user: SignedIn) -> User:
    """An admin."""
    return ensure_admin(user)


Admin = Annotated[User, Depends(require_admin)]


def csrf_token(request: Request) -> str:
    """A per-session token for forms: an HMAC of the session token (empty when anonymous)."""
    token = getattr(request.state, "token", None)
    if not token:
        return ""
    settings: Settings = request.app.state.settings
    key = settings.resolved_secret().encode()
    return hmac.new(key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def check_csrf(request: Request, supplied: str) -> None:
    """Refuse a cookie-authenticated form post without the right CSRF token. Posts that
    carry a bearer header are scripts, which no other site can forge."""
    if not getattr(request.state, "token_from_cookie", True):
        return
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, supplied or ""):
        raise ForbiddenError("The form expired or came from another site; reload the page and retry.")


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a full page (or fragment) with the shared context."""
    context.setdefault("user", getattr(request.state, "viewer", None))
    context.setdefault("csrf", csrf_token(request))
    context.setdefault("flash", request.query_params.get("flash", ""))
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(url: str, flash: str = "") -> RedirectResponse:
    """A 303 redirect (after a form post), optionally with a one-line notice."""
    if flash:
        url += ("&" if "?" in url else "?") + "flash=" + quote(flash)
    return RedirectResponse(url, status_code=303)
