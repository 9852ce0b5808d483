"""Text Postgres cannot store (a NUL character) is the client's mistake: 422 with a clear
message on the API and the pages, never a 500 (found by schemathesis). A sign-in with a name no
account could have is a wrong name (401), not a 422: the login schema allows any string, and a
schema-valid request must get a documented answer. Real Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.db.base import session_scope
from core.db.models import Role

from .helpers import RecordingDispatcher, add_user, make_settings

pytestmark = pytest.mark.postgres


def test_nul_characters_are_a_422_not_a_500(clean_postgres: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", database_url=clean_postgres)
    settings.data_dir.mkdir(parents=True)
    # raise_server_exceptions on: a handled error must not escape as well (Starlette re-raises what
    # the catch-all handler answered, which is how schemathesis saw a 500).
    with TestClient(create_app(settings, RecordingDispatcher())) as client:
        with session_scope(settings.effective_database_url) as session:
            staff = add_user(session, "staff", Role.INSTRUCTOR)
        r = client.post("/api/v1/auth/login", json={"name": "\x00", "password": "whatever-it-is"})
        assert r.status_code == 401, r.text
        page = client.post("/login", data={"name": "a\x00b", "password": "whatever-it-is"})
        assert page.status_code == 401 and "wrong user name or password" in page.text
        r = client.get("/api/v1/submissions", params={"user": "a\x00b"},
                       headers={"Authorization": f"Bearer {staff}"})
        assert r.status_code == 422, r.text
        assert "NUL" in r.json()["detail"]
        client.cookies.set("tensorjudge_token", staff)
        page = client.get("/instructor/submissions", params={"user_name": "a\x00b"})
        assert page.status_code == 422 and "NUL" in page.text
        assert client.get("/api/v1/problems/a%00b").status_code in (404, 422)
