"""More faults in the middle of a burst, against real Postgres, Redis, Celery worker and API
processes: the API process SIGKILLed several times while clients keep submitting (retrying with
the same Idempotency-Key, as the CLI does), and Postgres down for about 10 s (the API answers
503 with Retry-After, never 500). Each test asserts that every accepted submission ends final
exactly once and that none was stored twice (the Ledger of test_faults.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.db.base import engine_for, session_scope
from core.db.migrate import upgrade
from core.db.models import Submission
from core.settings import REPO_ROOT, Settings

from .fault_servers import RestartablePostgres
from .helpers import auth, make_settings
from .servers import free_port, wait_port
from .test_faults import GOOD, LIFE, Ledger, _stack, _users
from .workers import kill_group, settings_env, start_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


class ApiProcess:
    """The API as production runs it (`uvicorn --factory api.main:create_app`), in a process
    group of its own so that a test can SIGKILL it and start it again on the same port."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        env = settings_env(self.settings, TENSORJUDGE_QUEUE_SUPERSEDE="false", **LIFE)
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_port(self.port, 60)

    def kill(self) -> None:
        """SIGKILL it, whatever it is doing (requests in flight are cut)."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None


def _fresh_redis(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def _stored_per_key(settings: Settings, ids: list[int]) -> int:
    """How many rows the database holds for the users of these submissions (a retry that
    made a second submission would show up here, as a row the ledger never saw)."""
    with session_scope(settings.effective_database_url) as session:
        users = select(Submission.user_id).where(Submission.id.in_(ids)).distinct()
        return int(session.scalar(select(func.count()).select_from(Submission)
                                  .where(Submission.user_id.in_(users))) or 0)


def test_api_sigkilled_several_times_mid_burst(tmp_path: Path, clean_postgres: str, redis_url: str) -> None:
    _fresh_redis(redis_url)
    settings = make_settings(tmp_path / "data", database_url=clean_postgres, broker_url=redis_url)
    settings.grader = "tests.service.slow_grader:slow"
    tokens = _users(settings, 5)
    worker = start_worker(settings, "a", tmp_path / "w.log", **LIFE)
    api = ApiProcess(settings, tmp_path / "api.log")
    api.start()
    n, kills = 30, 4
    try:
        with httpx.Client(base_url=api.url, timeout=10) as client, Ledger(settings) as ledger:
            def burst() -> None:
                for i in range(n):
                    ledger.post(client, tokens[i % 5], f"k-{i}")  # type: ignore[arg-type]

            sender = threading.Thread(target=burst, daemon=True)
            sender.start()
            for kill_no in range(kills):
                wait_for(lambda k=kill_no: len(ledger.ids) >= 3 + 6 * k, 120,  # type: ignore[misc]
                         f"{3 + 6 * kill_no} accepted submissions")
                api.kill()
                time.sleep(0.5)
                api.start()
            sender.join(180)
            assert not sender.is_alive(), "the burst never finished"
            assert sorted(ledger.ids) == sorted(set(ledger.ids)) and len(ledger.ids) == n
            ledger.assert_all_final_once(180)
        assert _stored_per_key(settings, ledger.ids) == n  # no retry made a second row
    finally:
        api.kill()
        kill_group(worker)


def _post_once(client: httpx.Client | object, token: str, key: str) -> httpx.Response:
    return client.post("/api/v1/submissions", data={"problem": "tiny-add"},  # type: ignore[attr-defined]
                       files=[("files", ("s.py", GOOD))], headers={**auth(token), "Idempotency-Key": key})


def test_postgres_down_ten_seconds_mid_burst(tmp_path: Path, redis_url: str) -> None:
    _fresh_redis(redis_url)
    pg = RestartablePostgres()
    pg.start(create=True)
    try:
        upgrade(pg.url)
        settings = make_settings(tmp_path / "data", database_url=pg.url, broker_url=redis_url)
        settings.grader = "tests.service.slow_grader:slow"
        tokens = _users(settings, 5)
        worker = start_worker(settings, "d", tmp_path / "w.log", **LIFE)
        try:
            with _stack(settings) as client, Ledger(settings) as ledger:
                for i in range(10):
                    ledger.post(client, tokens[i % 5], f"before-{i}")
                wait_for(lambda: ledger.check() >= 2, 120, "two verdicts")
                pg.stop()
                down_at, refused, outage = time.monotonic(), [], []
                while time.monotonic() - down_at < 10:
                    key = f"during-{len(refused)}"
                    for what, r in (("submit", _post_once(client, tokens[len(refused) % 5], key)),
                                    ("view", client.get(f"/api/v1/submissions/{ledger.ids[0]}",
                                                        headers=auth(tokens[0]))),
                                    ("health", client.get("/api/v1/health"))):
                        outage.append((what, r.status_code, r.headers.get("Retry-After"), r.json().get("detail")))
                    refused.append(key)
                    time.sleep(0.5)
                pg.start()
                assert outage and all(code == 503 for _, code, *_ in outage), outage
                assert all(retry == "5" for what, _, retry, _ in outage if what != "health"), outage
                assert all(detail and "/" not in detail for *_, detail in outage), outage  # no server paths
                for i, key in enumerate(refused):  # the CLI's retry of each refused submission, same key
                    ledger.post(client, tokens[i % 5], key)
                for i in range(5):
                    ledger.post(client, tokens[i % 5], f"after-{i}")
                ledger.assert_all_final_once(180)
            assert len(ledger.ids) == 15 + len(refused)
            assert _stored_per_key(settings, ledger.ids) == len(ledger.ids)
        finally:
            kill_group(worker)
    finally:
        engine_for(pg.url).dispose()
        pg.close()
