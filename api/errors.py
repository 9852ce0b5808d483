"""The one table from our exceptions to HTTP statuses, shared by the JSON API and the pages.

Only the presentation differs: api.main answers `{"detail": ...}`, api.pages.errors renders
an HTML page (or sends a browser to /login). Statuses and headers come from here.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc

from core.errors import ProblemError, SubmissionError, TensorJudgeError
from core.services.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyAttemptsError,
)

# First match wins; any other TensorJudgeError (a safe message by construction) is a 400.
STATUS_BY_ERROR: tuple[tuple[type[TensorJudgeError], int], ...] = (
    (AuthError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SubmissionError, 422),
    (ProblemError, 422),
    (TooManyAttemptsError, 429),
    (ServiceUnavailableError, 503),
)
DEFAULT_STATUS = 400
RETRY_AFTER_S = 5  # what a 503 asks the client to wait
UNAVAILABLE_MESSAGE = "the database is unavailable right now; try again in a few seconds"


def retry_after() -> dict[str, str]:
    """The header every 503 carries: when to try again (an outage of the database or broker)."""
    return {"Retry-After": str(RETRY_AFTER_S)}


def database_unavailable(exc: BaseException) -> bool:
    """Whether an unexpected error is the database being down or unreachable (a 503, never a
    500): no connection, a connection lost mid-request, or no pooled connection in time."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                        sa_exc.DisconnectionError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


UNSTORABLE_MESSAGE = ("the request holds a value the database cannot store (a NUL character in text, "
                      "or a number out of range)")


def unstorable_input(exc: BaseException) -> bool:
    """Whether an unexpected error is the database refusing a value the client sent (a 422,
    never a 500): Postgres text cannot hold NUL characters, integers have a range."""
    return isinstance(exc, sa_exc.DataError)


def status_for(exc: TensorJudgeError) -> int:
    """The HTTP status of a user-facing error."""
    return next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), DEFAULT_STATUS)


def headers_for(exc: TensorJudgeError) -> dict[str, str] | None:
    """The headers that go with its status: how to authenticate, when to try again."""
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyAttemptsError):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, ServiceUnavailableError):
        return retry_after()
    return None


def describe_validation(exc: RequestValidationError) -> str:
    """A one-line summary of what was wrong with a request's fields (at most five)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
