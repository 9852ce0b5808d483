"""Real Postgres + real Redis + real Celery worker processes: grading, retries, SIGKILL."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.dispatch import CeleryDispatcher
from api.main import create_app
from core.db.base import session_scope
from core.db.models import CaseResult, Role, Submission
from core.settings import Settings

from .helpers import add_user, auth, copy_fixture, make_settings, publish_tiny
from .workers import kill_group, start_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

GOOD = b"def add(a, b):\n    return a + b\n"
BAD = b"def add(a, b):\n    return a - b\n"


@pytest.fixture
def stack(tmp_path: Path, clean_postgres: str, redis_url: str) -> Iterator[tuple[Settings, TestClient, str]]:
    """Settings on Postgres + Redis, an API client that really enqueues, a student token."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(tmp_path / "data", database_url=clean_postgres, broker_url=redis_url)
    settings.data_dir.mkdir(parents=True)
    settings.grader = "tests.service.slow_grader:slow"
    settings.broker_visibility_timeout_s = 4
    with session_scope(clean_postgres) as session:
        publish_tiny(session)
        token = add_user(session, "ada", Role.STUDENT)
    with TestClient(create_app(settings, CeleryDispatcher(settings)), raise_server_exceptions=False) as client:
        yield settings, client, token


def _submit(client: TestClient, token: str, source: bytes) -> int:
    r = client.post(
        "/api/v1/submissions",
        data={"problem": "tiny-add"},
        files=[("files", ("s.py", source))],
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _get(client: TestClient, token: str, sid: int) -> dict:  # type: ignore[type-arg]
    return client.get(f"/api/v1/submissions/{sid}", headers=auth(token)).json()


def test_health_with_real_postgres_and_redis(stack: tuple[Settings, TestClient, str]) -> None:
    _, client, _ = stack
    r = client.get("/api/v1/health")
    body = r.json()
    assert r.status_code == 200 and (body["status"], body["database"], body["broker"]) == ("ok", "ok", "ok")
    assert "backend" in body["sandbox"] and "uid" in body["sandbox"]


def test_health_is_503_when_redis_is_gone(tmp_path: Path, clean_postgres: str) -> None:
    settings = make_settings(tmp_path, database_url=clean_postgres, broker_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get("/api/v1/health")
    assert r.status_code == 503 and r.json()["broker"] == "down"


@pytest.mark.sandbox
def test_worker_grades_accepted_and_wrong_answer(stack: tuple[Settings, TestClient, str], tmp_path: Path) -> None:
    settings, client, token = stack
    settings.grader = "core.grading:grade"  # the real sandboxed pipeline
    worker = start_worker(settings, "w1", tmp_path / "w1.log")
    try:
        good = _submit(client, token, GOOD)
        # Claimed before the next try, which would otherwise supersede it while still queued.
        wait_for(lambda: _get(client, token, good)["status"] != "queued", 600, "the first to be claimed")
        bad = _submit(client, token, BAD)
        wait_for(
            lambda: all(_get(client, token, s)["status"] == "done" for s in (good, bad)),
            600,
            "both submissions to be graded",
        )
    finally:
        kill_group(worker)
    g, b = _get(client, token, good), _get(client, token, bad)
    assert (g["verdict"], g["score"], g["attempts"]) == ("accepted", 3.0, 1)
    assert (b["verdict"], b["score"]) == ("wrong_answer", 0.0)
    board = client.get("/api/v1/leaderboard/tiny-add").json()["entries"]
    assert [(e["user"], e["score"]) for e in board] == [("ada", 3.0)]


def test_sigkilled_worker_loses_nothing(stack: tuple[Settings, TestClient, str], tmp_path: Path) -> None:
    settings, client, token = stack
    first = start_worker(settings, "doomed", tmp_path / "doomed.log", TJ_TEST_CASE_SLEEP_S="3")
    try:
        sid = _submit(client, token, GOOD)
        wait_for(
            lambda: _get(client, token, sid)["progress"]["done"] >= 1,
            120,
            "the first worker to be in the middle of grading",
        )
        assert _get(client, token, sid)["status"] == "running"
    finally:
        kill_group(first)
    time.sleep(1)
    second = start_worker(settings, "rescuer", tmp_path / "rescuer.log", TJ_TEST_CASE_SLEEP_S="0.05")
    try:
        wait_for(
            lambda: _get(client, token, sid)["status"] == "done",
            120,
            "the redelivered task to finish on the second worker",
        )
        time.sleep(2 * settings.broker_visibility_timeout_s)  # no further redelivery changes anything
    finally:
        kill_group(second)
    body = _get(client, token, sid)
    assert body["verdict"] == "accepted" and body["attempts"] == 2
    assert [c["name"] for c in body["cases"]] == ["small", "hidden"]
    with session_scope(settings.effective_database_url) as session:
        sub = session.get(Submission, sid)
        assert sub is not None and sub.worker is not None and sub.worker.startswith("rescuer@")
        count = session.scalar(select(func.count()).select_from(CaseResult).where(CaseResult.submission_id == sid))
        assert count == 2


def test_infrastructure_errors_are_retried_then_failed(stack: tuple[Settings, TestClient, str], tmp_path: Path) -> None:
    settings, client, token = stack
    settings.grader = "tests.service.slow_grader:broken"
    settings.task_max_retries = 2
    worker = start_worker(settings, "w2", tmp_path / "w2.log")
    try:
        sid = _submit(client, token, GOOD)
        wait_for(lambda: _get(client, token, sid)["status"] == "failed", 120, "the submission to fail")
    finally:
        kill_group(worker)
    body = _get(client, token, sid)
    assert body["verdict"] == "system_error" and body["attempts"] == 3 and body["cases"] == []
    assert "after retries" in body["message"]


def test_progress_is_streamed_while_grading(stack: tuple[Settings, TestClient, str], tmp_path: Path) -> None:
    settings, client, token = stack
    worker = start_worker(settings, "w3", tmp_path / "w3.log", TJ_TEST_CASE_SLEEP_S="1")
    try:
        sid = _submit(client, token, GOOD)
        with client.stream("GET", f"/api/v1/submissions/{sid}/events", headers=auth(token)) as r:
            assert r.status_code == 200
            text = "".join(r.iter_text())
    finally:
        kill_group(worker)
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    assert events[-1][0] == "done" and events[-1][1]["verdict"] == "accepted"
    running = [d["progress"] for e, d in events if e == "progress" and d["status"] == "running"]
    assert {"done": 1, "total": 2} in running, events


@pytest.mark.sandbox
@pytest.mark.parametrize("front", ["api", "page"])
def test_uploaded_package_is_validated_by_a_worker(
    stack: tuple[Settings, TestClient, str], tmp_path: Path, front: str
) -> None:
    # The compose configuration: the API process has no sandbox; a worker validates uploads
    # from the JSON API and from the instructor page alike.
    settings, client, _ = stack
    with session_scope(settings.effective_database_url) as session:
        teacher = add_user(session, "tess", Role.INSTRUCTOR)
    package = copy_fixture(tmp_path)
    (package / "statement.md").write_text("# Tiny add, second edition\n")  # a new version
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(package, arcname="tiny-add")
    settings.broker_visibility_timeout_s = 600  # validation runs longer than the 4 s used above
    worker = start_worker(settings, "validator", tmp_path / "v.log")
    try:
        files = {"package": ("p.tgz", buf.getvalue())}
        if front == "api":
            r = client.post("/api/v1/admin/problems", files=files, headers=auth(teacher))
            assert r.status_code == 202, r.text
            vid = r.json()["version"]["id"]
        else:
            r = client.post("/instructor/problems", files=files, headers=auth(teacher), follow_redirects=False)
            assert r.status_code == 303, r.text
            vid = int(r.headers["location"].split("version=")[1].split("&")[0])

        def report() -> dict:  # type: ignore[type-arg]
            versions = client.get("/api/v1/admin/problems/tiny-add/versions", headers=auth(teacher)).json()
            return next(v for v in versions if v["id"] == vid)["validation"]

        wait_for(lambda: report()["state"] != "pending", 600, "the worker to validate the package")
    finally:
        kill_group(worker)
    assert report()["state"] == "done" and report()["ok"] is True, report()
    r = client.post("/api/v1/admin/problems/tiny-add/publish", json={"version_id": vid}, headers=auth(teacher))
    assert r.status_code == 200 and r.json()["current"] is True
