"""What the OpenAPI says beyond what FastAPI infers: the error responses every JSON API
operation documents, and which operations also serve anonymous callers.

Every error the API sends has one shape, `{"detail": "<a sentence>"}` (some add fields, such
as a quota's `next_allowed_at`), whatever raised it: our own errors, request validation and
HTTP errors all pass through the handlers in api.main. FastAPI would otherwise document its
default 422 body (a list of locations), which the API never sends; declaring these on every
router replaces it, so clients and schema checkers see what they really get."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from api.deps import get_current_user, get_optional_user


class ErrorBody(BaseModel):
    """What every 4xx and 503 answer carries."""

    model_config = ConfigDict(extra="allow")

    detail: str


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                                "schema": {"type": "integer"}}}

# Status -> (description, headers). The statuses api.errors maps our exceptions to, plus 422
# for a malformed request and 503 for a database or broker that is down.
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("the request was understood but cannot be carried out", {}),
    401: ("no valid API token or session (or a wrong password)", {}),
    403: ("the caller's role does not allow this", {}),
    404: ("no such resource, or not one the caller may see", {}),
    409: ("conflicts with the current state (a name in use, a problem not published)", {}),
    422: ("a field is missing or invalid; `detail` says which", {}),
    429: ("too many requests (a rate limit or a quota)", _RETRY_AFTER),
    503: ("the database or the broker is unavailable right now", _RETRY_AFTER),
}

# The schema is given inline under application/json rather than as `model`: FastAPI would file
# a model under the route's own media type, and a CSV or plain-text route still errs in JSON.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
           **({"headers": headers} if headers else {})}
    for code, (text, headers) in _ERRORS.items()
}


def _calls(dependant: Dependant) -> set[Callable[..., Any]]:
    found: set[Callable[..., Any]] = set()
    for dep in dependant.dependencies:
        if dep.call is not None:
            found.add(dep.call)
        found |= _calls(dep)
    return found


def document_optional_auth(app: FastAPI, prefix: str, routers: list[APIRouter]) -> None:
    """Mark operations that take a token but also answer anonymous callers (published problems,
    leaderboards) as such (`security: [{}, {HTTPBearer: []}]`): FastAPI declares the bearer
    scheme as required wherever it is a dependency, even where it is optional. `routers` are
    the ones included under `prefix`."""
    build = app.openapi
    optional = {
        (method.lower(), prefix + route.path)
        for router in routers for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        and get_optional_user in (calls := _calls(route.dependant)) and get_current_user not in calls
        for method in route.methods or ()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for method, path in optional:
            operation = schema["paths"].get(path, {}).get(method)
            if operation and operation.get("security") and {} not in operation["security"]:
                operation["security"] = [{}, *operation["security"]]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
