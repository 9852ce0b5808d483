"""Liveness of the API and what it depends on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import DispatcherDep, SessionDep, SettingsDep
from api.errors import retry_after
from core.services import system_status

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep, settings: SettingsDep, dispatcher: DispatcherDep) -> JSONResponse:
    """200 when the API, its database and its broker are reachable; 503 with Retry-After
    otherwise (a load balancer or client waits that long before asking again). Also says
    which sandbox backend and uid student code runs under, and how many workers are alive."""
    try:
        session.execute(text("SELECT 1"))
        database = True
    except Exception:  # noqa: BLE001 - any failure means down
        database = False
    broker = dispatcher.ping()
    ok = database and broker
    body: dict[str, Any] = {
        "status": "ok" if ok else "unavailable",
        "database": "ok" if database else "down",
        "broker": "ok" if broker else "down",
    }
    if database:
        try:
            live = system_status.workers(session, settings)
            body["workers"] = len(live)
            body["sandbox"] = system_status.sandbox(session, settings, live)
        except Exception:  # noqa: BLE001 - a schema not migrated yet, a blip: health still answers
            session.rollback()
    if not ok:
        body["detail"] = "dependencies down: " + ", ".join(k for k in ("database", "broker") if body[k] == "down")
    return JSONResponse(body, status_code=200) if ok else JSONResponse(body, status_code=503, headers=retry_after())
