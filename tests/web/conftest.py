"""Fixtures for the web tests: a seeded app for TestClient (grading in a thread), a seeded app
whose validations run on a real Celery worker process, and a real server for Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.dispatch import CeleryDispatcher
from api.main import create_app
from core.settings import Settings
from tests.service.workers import kill_group, start_worker

from .helpers import ThreadDispatcher, make_settings, seed


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data dir, graded by the fast fake grader."""
    return make_settings(tmp_path / "data", grader="tests.web.helpers:fake_grade")


@pytest.fixture
def tokens(web_settings: Settings) -> dict[str, str]:
    """Seeded users (alice, bob: students; ines: instructor; ada: admin) -> API tokens."""
    return seed(web_settings, publish_bundled=True)


@pytest.fixture
def web_client(web_settings: Settings, tokens: dict[str, str]) -> Iterator[TestClient]:
    """A TestClient on the app with an in-process worker; redirects are not followed."""
    dispatcher = ThreadDispatcher(web_settings)
    app = create_app(web_settings, dispatcher)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client
    dispatcher.shutdown()


@pytest.fixture
def worker_app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app as `tensorjudge serve` runs it: the embedded broker (a folder in the data dir)
    and a real `celery worker` process, which validates packages in the real sandbox.
    Yields a TestClient (redirects not followed) and the seeded users' tokens."""
    settings = make_settings(tmp_path / "data")
    tokens = seed(settings, publish_bundled=False)
    worker = start_worker(settings, "web-worker", tmp_path / "worker.log")
    try:
        app = create_app(settings, CeleryDispatcher(settings))
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            yield client, tokens
    finally:
        kill_group(worker)
        print((tmp_path / "worker.log").read_text()[-6000:])  # shown when the test fails
