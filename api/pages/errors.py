"""HTML error pages for browsers; the JSON API under /api keeps its JSON errors. Statuses and
headers come from the table both share (api.errors)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import (
    RETRY_AFTER_S,
    UNSTORABLE_MESSAGE,
    database_unavailable,
    describe_validation,
    headers_for,
    status_for,
    unstorable_input,
)
from api.pages.common import LoginRequired, page
from core.errors import TensorJudgeError

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]

TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Cannot process this",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/docs", "/static/"))


def error_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The HTML page for an error status (with the headers the status table adds)."""
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    response = page(
        request,
        "error.html",
        status_code=status,
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
    )
    if headers:
        response.headers.update(headers)
    return response


def install(app: FastAPI) -> None:
    """Wrap the API's error handlers: pages get HTML, /api keeps JSON."""
    original: dict[type[Exception], Handler] = {
        cls: app.exception_handlers[cls]  # type: ignore[misc]
        for cls in (TensorJudgeError, RequestValidationError, StarletteHTTPException, sa_exc.DataError, Exception)
        if cls in app.exception_handlers
    }

    async def _fallback(request: Request, exc: Exception) -> Response:
        return error_page(request, 500, "An unexpected error occurred.")

    def wrap(cls: type[Exception], to_html: Callable[[Request, Exception], Response]) -> None:
        json_handler = original.get(cls, _fallback)

        async def handler(request: Request, exc: Exception) -> Response:
            if _is_api(request):
                return await json_handler(request, exc)
            return to_html(request, exc)

        app.add_exception_handler(cls, handler)

    def user_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TensorJudgeError)
        return error_page(request, status_for(exc), str(exc), headers_for(exc))

    def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_page(request, 422, f"The form or address is not valid ({describe_validation(exc)}).")

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "There is no page at this address."
        return error_page(request, exc.status_code, message)

    def unstorable(request: Request, exc: Exception) -> Response:
        return error_page(request, 422, UNSTORABLE_MESSAGE[0].upper() + UNSTORABLE_MESSAGE[1:] + ".")

    def unexpected(request: Request, exc: Exception) -> Response:
        if database_unavailable(exc):
            log.warning("database unavailable on %s: %s", request.url.path, exc.__class__.__name__)
            return error_page(request, 503, "The service cannot reach its database right now; try again in a "
                              "few seconds.", {"Retry-After": str(RETRY_AFTER_S)})
        if unstorable_input(exc):
            return error_page(request, 422, UNSTORABLE_MESSAGE[0].upper() + UNSTORABLE_MESSAGE[1:] + ".")
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
        return error_page(request, 500, "An unexpected error occurred; it has been logged.")

    wrap(TensorJudgeError, user_error)
    wrap(RequestValidationError, validation)
    wrap(StarletteHTTPException, http_error)
    wrap(sa_exc.DataError, unstorable)
    wrap(Exception, unexpected)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        accepts_html = "text/html" in request.headers.get("accept", "")
        if request.method == "GET" and accepts_html:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return error_page(request, 401, "Sign in to see this page.")
