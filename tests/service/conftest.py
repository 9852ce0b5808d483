"""Fixtures for the service tests: settings on a temp data dir, a migrated database, an API
client with a recording dispatcher, and real Postgres/Redis servers started here."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from core.db.base import session_factory
from core.db.migrate import upgrade
from core.settings import Settings

from .helpers import RecordingDispatcher, make_settings
from .servers import postgres_server, redis_server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """SQLite settings, migrated."""
    s = make_settings(tmp_path / "data")
    s.data_dir.mkdir(parents=True)
    upgrade(s.effective_database_url)
    return s


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A session on the test database."""
    s = session_factory(settings.effective_database_url)()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    """The recording dispatcher the API client uses."""
    return RecordingDispatcher()


@pytest.fixture
def client(settings: Settings, dispatcher: RecordingDispatcher) -> Iterator[TestClient]:
    """A TestClient on a fresh app (raise_server_exceptions off: a 500 must show as a 500)."""
    with TestClient(create_app(settings, dispatcher), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real Postgres server for the whole session, migrated to head."""
    from core.db.base import engine_for

    with postgres_server() as url:
        upgrade(url)
        yield url
        # Close pooled connections before the server goes, or they warn when collected later.
        engine_for(url).dispose()
        engine_for.cache_clear()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis server for the whole session."""
    with redis_server() as url:
        yield url


@pytest.fixture
def clean_postgres(postgres_url: str) -> str:
    """The session's Postgres with every table emptied."""
    from sqlalchemy import text

    from core.db.base import engine_for

    with engine_for(postgres_url).begin() as conn:
        conn.execute(
            text(
                "TRUNCATE case_results, submission_files, submissions, problem_versions, "
                "problems, api_tokens, users, worker_heartbeats, leases RESTART IDENTITY CASCADE"
            )
        )
    return postgres_url


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test so a leaked connection is blamed on the test that leaked it."""
    yield
    gc.collect()
