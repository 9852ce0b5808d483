"""Health (sandbox backend and uid), Prometheus metrics, the admin system page, JSON logs with
the submission id (the last with a real worker on Postgres and Redis)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from api.dispatch import CeleryDispatcher
from api.main import create_app
from core.db.base import session_scope
from core.db.models import Role
from core.logs import JsonFormatter, SubmissionFilter, bind_submission, unbind_submission
from core.services import judging, sweeper
from core.settings import Settings

from .helpers import RecordingDispatcher, add_user, auth, fake_grade, make_settings, publish_tiny
from .workers import kill_group, start_worker, wait_for

GOOD = b"def add(a, b):\n    return a + b\n"
BAD = b"def add(a, b):\n    return a - b\n"


def _post(client: TestClient, token: str, source: bytes) -> int:
    r = client.post("/api/v1/submissions", data={"problem": "tiny-add"}, files=[("files", ("s.py", source))],
                    headers=auth(token))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_health_names_the_sandbox_backend_and_uid(client: TestClient, session: Session) -> None:
    alone = client.get("/api/v1/health").json()
    assert alone["workers"] == 0 and alone["sandbox"]["reported_by"] == "this process"
    assert alone["sandbox"]["backend"] in ("process", "docker", "none")
    sweeper.beat(session, "gpu1:7:abc", host="gpu1", pid=7, queues="gpu", busy=None, sandbox="docker",
                 sandbox_uid=65534)
    body = client.get("/api/v1/health").json()
    assert body["workers"] == 1 and body["status"] == "ok"
    assert (body["sandbox"]["backend"], body["sandbox"]["uid"], body["sandbox"]["reported_by"]) == (
        "docker", 65534, "workers")


def test_metrics_report_queues_states_verdicts_latency_and_heartbeats(
    settings: Settings, client: TestClient, session: Session, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    settings.queue_supersede = False
    ada = add_user(session, "ada")
    graded = [_post(client, ada, GOOD), _post(client, ada, BAD)]
    for sid in graded:
        assert judging.run_job(settings, sid, 1, "w", grader=fake_grade) is judging.Outcome.DONE
    _post(client, ada, GOOD)
    _post(client, ada, GOOD)
    sweeper.beat(session, "h:1:a", host="h", pid=1, queues="cpu", busy=None)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(r.text) for s in family.samples}
    assert samples[("tensorjudge_queue_depth", (("lane", "live"), ("queue", "cpu")))] == 2
    assert samples[("tensorjudge_queue_depth", (("lane", "rejudge"), ("queue", "cpu")))] == 0
    assert samples[("tensorjudge_submissions", (("state", "done"),))] == 2
    assert samples[("tensorjudge_submissions", (("state", "queued"),))] == 2
    assert samples[("tensorjudge_verdicts_total", (("verdict", "accepted"),))] == 1
    assert samples[("tensorjudge_verdicts_total", (("verdict", "wrong_answer"),))] == 1
    assert samples[("tensorjudge_grading_latency_seconds_count", ())] == 2
    assert samples[("tensorjudge_grading_latency_seconds_bucket", (("le", "+Inf"),))] == 2
    assert samples[("tensorjudge_sandbox_failures_total", ())] == 0
    assert 0 <= samples[("tensorjudge_worker_heartbeat_age_seconds", (("worker", "h:1:a"),))] < 60


def test_admin_system_page(client: TestClient, session: Session) -> None:
    admin, student = add_user(session, "root", Role.ADMIN), add_user(session, "ada")
    sweeper.beat(session, "w1:9:f", host="w1", pid=9, queues="cpu", busy=None, sandbox="process", sandbox_uid=65534)
    page = client.get("/admin/system", headers=auth(admin))
    assert page.status_code == 200
    assert "<code>process</code>" in page.text and "<code>65534</code>" in page.text and "w1:9:f" in page.text
    assert client.get("/admin/system", headers=auth(student)).status_code == 403


def test_json_log_lines_carry_the_submission_id() -> None:
    record = logging.LogRecord("tensorjudge.test", logging.INFO, __file__, 1, "graded %s", ("ok",), None)
    token = bind_submission(42)
    try:
        SubmissionFilter().filter(record)
    finally:
        unbind_submission(token)
    line = json.loads(JsonFormatter().format(record))
    assert (line["submission_id"], line["message"], line["level"]) == (42, "graded ok", "INFO")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_logs_json_with_the_submission_id(tmp_path: Path, clean_postgres: str, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(tmp_path / "data", database_url=clean_postgres, broker_url=redis_url)
    settings.grader = "tests.service.slow_grader:broken"  # an infrastructure error: a logged warning
    settings.task_max_retries = 0
    with session_scope(clean_postgres) as session:
        publish_tiny(session)
        token = add_user(session, "ada")
    log = tmp_path / "w.log"
    worker = start_worker(settings, "logs", log, TENSORJUDGE_LOG_JSON="true")
    try:
        with TestClient(create_app(settings, CeleryDispatcher(settings)), raise_server_exceptions=False) as client:
            sid = _post(client, token, GOOD)
            wait_for(lambda: client.get(f"/api/v1/submissions/{sid}", headers=auth(token)).json()["status"]
                     == "failed", 120, "the submission to fail")
    finally:
        kill_group(worker)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    mine = [x for x in lines if x.get("submission_id") == sid]
    assert mine and any("sandbox backend unavailable" in x["message"] for x in mine), lines[-10:]
