"""The FastAPI application factory: routers, error handlers, OpenAPI at /docs."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.dispatch import CeleryDispatcher, Dispatcher
from api.routes import admin_problems, auth, health, leaderboard, problems, submissions, users
from core.errors import ProblemError, SubmissionError, TensorJudgeError
from core.services.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyAttemptsError,
)
from core.services.users import LoginThrottle
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

_STATUS: list[tuple[type[TensorJudgeError], int]] = [
    (AuthError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SubmissionError, 422),
    (ProblemError, 422),
    (ServiceUnavailableError, 503),
    (TooManyAttemptsError, 429),
]


def _status_for(exc: TensorJudgeError) -> int:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 400


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TensorJudgeError)
    async def _user_error(_: Request, exc: TensorJudgeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        if isinstance(exc, TooManyAttemptsError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse({"detail": str(exc)}, status_code=_status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe_validation(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: Any = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def create_app(settings: Settings | None = None, dispatcher: Dispatcher | None = None) -> FastAPI:
    """Build the app. Tests pass their own settings and, where no broker runs, a dispatcher."""
    settings = settings or get_settings()
    app = FastAPI(
        title="TensorJudge",
        version="1",
        summary="An online judge for PyTorch and LLM exercises",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_window_s)
    app.state.dispatcher = dispatcher or CeleryDispatcher(settings)
    _install_error_handlers(app)
    for module in (health, auth, problems, submissions, leaderboard, admin_problems, users):
        app.include_router(module.router, prefix=API_PREFIX)
    _mount_pages(app)
    return app


def _mount_pages(app: FastAPI) -> None:
    # The web pages live in api.pages (written separately); the JSON API works without them.
    if importlib.util.find_spec("api.pages") is None:
        return
    pages = importlib.import_module("api.pages")
    setup = getattr(pages, "setup", None)
    if callable(setup):
        setup(app)
