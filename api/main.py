"""The FastAPI application factory: routers, error handlers, OpenAPI at /docs."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.dispatch import CeleryDispatcher, Dispatcher
from api.docs import install_docs
from api.errors import (
    RETRY_AFTER_S,
    UNAVAILABLE_MESSAGE,
    UNSTORABLE_MESSAGE,
    database_unavailable,
    describe_validation,
    headers_for,
    status_for,
    unstorable_input,
)
from api.openapi_doc import ERROR_RESPONSES, document_optional_auth
from api.routes import admin_problems, auth, health, leaderboard, problems, submissions, tokens, trials, users
from api.routes import courses as course_routes
from api.routes import metrics as metrics_routes
from api.routes import similarity as similarity_routes
from core.errors import TensorJudgeError
from core.services.users import LoginThrottle
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TensorJudgeError)
    async def _user_error(_: Request, exc: TensorJudgeError) -> JSONResponse:
        body = {"detail": str(exc), **getattr(exc, "extra", {})}  # e.g. a quota's next_allowed_at
        return JSONResponse(body, status_code=status_for(exc), headers=headers_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "invalid request: " + describe_validation(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: Any = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    # Its own handler (not the catch-all below, which Starlette re-raises after answering).
    @app.exception_handler(sa_exc.DataError)
    async def _unstorable(_: Request, exc: sa_exc.DataError) -> JSONResponse:
        return JSONResponse({"detail": UNSTORABLE_MESSAGE}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            return JSONResponse({"detail": UNAVAILABLE_MESSAGE}, status_code=503,
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        if unstorable_input(exc):
            return JSONResponse({"detail": UNSTORABLE_MESSAGE}, status_code=422)
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)


def create_app(settings: Settings | None = None, dispatcher: Dispatcher | None = None) -> FastAPI:
    """Build the app. Tests pass their own settings and, where no broker runs, a dispatcher."""
    settings = settings or get_settings()
    app = FastAPI(
        title="TensorJudge",
        version="1",
        summary="An online judge for PyTorch and LLM exercises",
        docs_url=None,  # served by api.docs from vendored assets
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_window_s)
    app.state.dispatcher = dispatcher or CeleryDispatcher(settings)
    _install_error_handlers(app)
    api_routers = [module.router for module in (health, auth, tokens, problems, submissions, trials, leaderboard,
                                                 admin_problems, users, course_routes, similarity_routes)]
    for router in api_routers:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(metrics_routes.router, responses=ERROR_RESPONSES)  # /metrics, where Prometheus looks
    document_optional_auth(app, API_PREFIX, api_routers)
    install_docs(app, f"{API_PREFIX}/openapi.json")
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
