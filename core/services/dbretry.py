"""Short database sessions with retries on transient errors (a restart, a dropped connection).

The worker never holds a session through a grade: each step (claim, load, progress, finish,
release) opens its own short session and, when the database blips, is retried with a small
backoff. Every step is safe to repeat: claims and final writes are conditional UPDATEs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from core.db.base import session_scope
from core.errors import InfrastructureError

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseUnavailableError(InfrastructureError):
    """The database stayed unreachable through every retry of one step."""


def is_transient(exc: BaseException) -> bool:
    """Whether a database error is the database being down or the connection being lost."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                        sa_exc.DisconnectionError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def with_session(url: str, step: Callable[[Session], T], *, attempts: int = 8, what: str = "database step") -> T:
    """Run `step` in a fresh session; transient errors are retried (0.1 s doubling, at most
    5 s apart); DatabaseUnavailableError after `attempts` tries."""
    delay = 0.1
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(url) as session:
                return step(session)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise DatabaseUnavailableError(f"{what}: database unavailable ({exc.__class__.__name__})") from exc
            log.warning("%s: transient database error (%s), retry %d in %.1f s",
                        what, exc.__class__.__name__, attempt, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")
