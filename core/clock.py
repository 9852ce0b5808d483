"""The time as course rules see it (deadlines, quotas, results policy): the real clock, or a
clock a test sets. Only the course code reads it; row timestamps keep their own defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from core.db.base import utcnow

_source: Callable[[], datetime] = utcnow


def now() -> datetime:
    """The current time, timezone-aware, in UTC (or what a test made it)."""
    return _source()


def set_source(source: Callable[[], datetime] | None) -> None:
    """Use `source` for the current time from now on (None: the real clock again)."""
    global _source
    _source = source or utcnow


@contextmanager
def shifted(offset: timedelta) -> Iterator[None]:
    """Within the block the clock runs `offset` ahead of real time (negative: behind)."""
    set_source(lambda: utcnow() + offset)
    try:
        yield
    finally:
        set_source(None)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Within the block the clock stands still at `at`."""
    set_source(lambda: at)
    try:
        yield
    finally:
        set_source(None)
