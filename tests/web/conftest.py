"""Fixtures for the web tests: a seeded app for TestClient, and a real server for Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings

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
