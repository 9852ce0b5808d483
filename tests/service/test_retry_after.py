"""Every 503 the API sends for an outage says when to try again (Retry-After, in seconds):
/health with the broker or the database down, a submission or trial run stored while the queue
is unreachable, a validation that cannot be queued, any request while the database is down;
and the OpenAPI documents the header on those 503s."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app

from .helpers import RecordingDispatcher, add_user, auth, make_settings, publish_tiny

GOOD = b"def add(a, b):\n    return a + b\n"


def _retry_after_s(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, (response.status_code, response.text)
    value = response.headers.get("Retry-After")
    assert value is not None, f"503 without Retry-After: {response.text}"
    assert value.isdigit() and int(value) >= 1, value
    return int(value)


def test_health_with_the_broker_down_is_503_with_retry_after(
        client: TestClient, dispatcher: RecordingDispatcher) -> None:
    up = client.get("/api/v1/health")
    assert up.status_code == 200 and "Retry-After" not in up.headers
    dispatcher.up = False
    down = client.get("/api/v1/health")
    _retry_after_s(down)
    assert down.json()["broker"] == "down"


def test_health_and_requests_with_the_database_down_carry_retry_after(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings(tmp_path / "d", database_url=f"postgresql+psycopg://tj@127.0.0.1:{port}/tj")
    settings.data_dir.mkdir(parents=True)
    with TestClient(create_app(settings, RecordingDispatcher()), raise_server_exceptions=False) as client:
        health = client.get("/api/v1/health")
        _retry_after_s(health)
        assert health.json()["database"] == "down" and str(port) not in health.text
        _retry_after_s(client.get("/api/v1/submissions", headers=auth("some-token")))


def test_stored_but_unqueued_submission_and_trial_are_503_with_retry_after(
        client: TestClient, session: Session, dispatcher: RecordingDispatcher) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    dispatcher.up = False
    for path in ("submissions", "trials"):
        r = client.post(f"/api/v1/{path}", data={"problem": "tiny-add"}, files=[("files", ("s.py", GOOD))],
                        headers=auth(token))
        _retry_after_s(r)
        assert isinstance(r.json()["id"], int) and "queue" in r.json()["detail"]


def test_openapi_documents_retry_after_on_the_health_503(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json")
    operation = spec.json()["paths"]["/api/v1/health"]["get"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]
