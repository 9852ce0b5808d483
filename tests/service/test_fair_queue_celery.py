"""The fair queue with real Celery workers, a real Redis and a real Postgres: a flooding
student does not hold up anyone else, and rejudges wait behind live work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.dispatch import CeleryDispatcher
from api.main import create_app
from core.db.base import session_scope
from core.db.lifecycle_models import WorkerHeartbeat
from core.db.models import Role, Submission
from core.services import judging
from core.services import submissions as service
from core.services import users as user_service
from core.settings import Settings

from .helpers import add_user, auth, fake_grade, make_settings, publish_tiny
from .workers import kill_group, start_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

GOOD = b"def add(a, b):\n    return a + b\n"


@pytest.fixture
def stack(tmp_path: Path, clean_postgres: str, redis_url: str) -> Iterator[tuple[Settings, TestClient]]:
    """Settings on Postgres + Redis (the slow test grader) and an API client that enqueues."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    settings = make_settings(tmp_path / "data", database_url=clean_postgres, broker_url=redis_url)
    settings.data_dir.mkdir(parents=True)
    settings.grader = "tests.service.slow_grader:slow"
    with session_scope(clean_postgres) as session:
        publish_tiny(session)
    with TestClient(create_app(settings, CeleryDispatcher(settings)), raise_server_exceptions=False) as client:
        yield settings, client


def _post(client: TestClient, token: str) -> int:
    r = client.post("/api/v1/submissions", data={"problem": "tiny-add"}, files=[("files", ("s.py", GOOD))],
                    headers=auth(token))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _worker_alive(settings: Settings) -> bool:
    with session_scope(settings.effective_database_url) as session:
        return session.scalar(select(WorkerHeartbeat.id).limit(1)) is not None


def _finished(settings: Settings, sid: int) -> float | None:
    with session_scope(settings.effective_database_url) as session:
        sub = session.get(Submission, sid)
        assert sub is not None
        return sub.finished_at.timestamp() if sub.finished_at and sub.status.value == "done" else None


def test_a_flood_of_50_does_not_hold_up_another_student(stack: tuple[Settings, TestClient], tmp_path: Path) -> None:
    settings, client = stack
    settings.queue_supersede = False  # fifty tries all stay queued (as fifty different problems would)
    with session_scope(settings.effective_database_url) as session:
        flooder, other = add_user(session, "flo"), add_user(session, "ned")
    worker = start_worker(settings, "fair", tmp_path / "fair.log", TJ_TEST_CASE_SLEEP_S="0.3")
    try:
        wait_for(lambda: _worker_alive(settings), 120, "the worker's first heartbeat")
        flood = [_post(client, flooder) for _ in range(50)]
        submitted_at = time.time()
        mine = _post(client, other)
        queued = client.get(f"/api/v1/submissions/{mine}", headers=auth(other)).json()
        wait_for(lambda: _finished(settings, mine) is not None, 120, "the other student's verdict")
        done_at = _finished(settings, mine)
        assert done_at is not None
        flood_done = [t for t in (_finished(settings, s) for s in flood) if t is not None]
    finally:
        kill_group(worker)
    before_mine = sorted(t for t in flood_done if t < done_at)
    after_submit = [t for t in before_mine if t > submitted_at]
    print(f"\nflood: {len(before_mine)} of the flooder's 50 verdicts came before the other student's "
          f"({len(after_submit)} of them after it was submitted); it waited {done_at - submitted_at:.2f} s; "
          f"its queue place when submitted: {queued['queue']}")
    assert queued["status"] != "queued" or queued["queue"]["position"] <= 1
    # Its verdict came before the flooder's fifth (counted from when it was submitted).
    assert len(after_submit) < 5, (len(after_submit), len(before_mine))


def test_rejudges_run_after_live_work_on_a_real_worker(stack: tuple[Settings, TestClient], tmp_path: Path) -> None:
    settings, client = stack
    with session_scope(settings.effective_database_url) as session:
        tokens = {n: add_user(session, n) for n in ("ada", "bob", "cyd")}
        add_user(session, "tess", Role.INSTRUCTOR)
    old = [_post(client, tokens[n]) for n in ("ada", "bob")]
    for sid in old:  # graded inline: no worker yet
        assert judging.run_job(settings, sid, 1, "inline", grader=fake_grade) is judging.Outcome.DONE
    with session_scope(settings.effective_database_url) as session:
        teacher = user_service.get_user_by_name(session, "tess")
        assert teacher is not None
        jobs = service.rejudge_problem(session, "tiny-add", teacher)
        session.commit()
    dispatcher = CeleryDispatcher(settings)
    for job in jobs:  # the rejudges' messages are on the queue first
        dispatcher.enqueue(job)
    live = _post(client, tokens["cyd"])
    worker = start_worker(settings, "lanes", tmp_path / "lanes.log", TJ_TEST_CASE_SLEEP_S="0.2")
    try:
        wait_for(lambda: all(_finished(settings, s) for s in (*old, live)), 120, "all three to be graded")
    finally:
        kill_group(worker)
    times = {s: _finished(settings, s) for s in (*old, live)}
    assert all(times[live] < times[s] for s in old), times  # type: ignore[operator]
