"""The stack every fault test stands up, in one place: real Postgres and Redis (the session's
shared servers, or restartable ones of the test's own), the tiny problem and a few students, a
real Celery worker process that a test can SIGKILL and restart, the API in-process or as a
`uvicorn` process that a test can SIGKILL and restart, and a Ledger that watches every accepted
submission. `fault_stack(...)` yields it and tears all of it down, whatever the test did."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.dispatch import CeleryDispatcher
from api.main import create_app
from core.db.base import engine_for, session_scope
from core.db.migrate import upgrade
from core.db.models import CaseResult, Submission
from core.settings import REPO_ROOT, Settings

from .fault_servers import RestartablePostgres, RestartableRedis
from .helpers import add_user, auth, make_settings, publish_tiny
from .servers import free_port, wait_port
from .workers import kill_group, settings_env, start_worker, wait_for

GOOD = b"def add(a, b):\n    return a + b\n"
# Fast life-cycle timings so that a test sees recovery in seconds (production: docs/operations.md).
LIFE = {
    "TENSORJUDGE_HEARTBEAT_INTERVAL_S": "0.5",
    "TENSORJUDGE_HEARTBEAT_TIMEOUT_S": "3",
    "TENSORJUDGE_SWEEP_INTERVAL_S": "1",
    "TENSORJUDGE_REPUBLISH_AFTER_S": "3",
    "TJ_TEST_CASE_SLEEP_S": "0.1",
}


class Ledger:
    """Watches every accepted submission: the first final state seen must never change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ids: list[int] = []
        self.first_final: dict[int, tuple[str, float]] = {}
        self.changed: list[str] = []
        self.statuses: list[int] = []
        self.slowest_s = 0.0  # the longest any one request took (printed, never asserted tightly)
        self.cut = 0  # requests that got no answer (the API was down or killed mid-request)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Ledger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the database may be restarting right now
                continue

    def check(self) -> int:
        """Record final states; returns how many accepted submissions are final."""
        with session_scope(self.settings.effective_database_url) as session:
            rows = session.execute(
                select(Submission.id, Submission.status, Submission.finished_at).where(Submission.id.in_(self.ids))
            ).all()
        for sid, status, finished in rows:
            if status.value in ("done", "failed") and finished is not None:
                seen = self.first_final.setdefault(sid, (status.value, finished.timestamp()))
                if seen != (status.value, finished.timestamp()):
                    self.changed.append(f"submission {sid}: {seen} then {(status.value, finished.timestamp())}")
        return len(self.first_final)

    def wait_final(self, count: int, timeout_s: float = 120) -> None:
        """Wait until at least `count` accepted submissions are final."""
        wait_for(lambda: self.check() >= count, timeout_s, f"{count} final submissions")

    def post(self, client: TestClient | httpx.Client, token: str, key: str, tries: int = 120) -> None:
        """Submit like the CLI does: the same Idempotency-Key on every retry of one submission."""
        for _ in range(tries):
            started = time.monotonic()
            try:
                r = client.post("/api/v1/submissions", data={"problem": "tiny-add"},
                                files=[("files", ("s.py", GOOD))], headers={**auth(token), "Idempotency-Key": key})
            except httpx.HTTPError:  # the API is down or was killed mid-request
                self.cut += 1
                time.sleep(0.25)
                continue
            finally:
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            self.statuses.append(r.status_code)
            if r.status_code in (200, 201):
                sid = int(r.json()["id"])
                if sid not in self.ids:
                    self.ids.append(sid)
                return
            if r.status_code == 503 and "id" in r.json():  # stored, the queue was down: accepted
                assert r.headers.get("Retry-After", "").isdigit(), r.headers
                if int(r.json()["id"]) not in self.ids:
                    self.ids.append(int(r.json()["id"]))
                return
            assert r.status_code == 503, (r.status_code, r.text)
            time.sleep(0.25)
        raise AssertionError(f"submission {key} never accepted")

    def assert_all_final_once(self, timeout_s: float) -> None:
        """Every accepted submission is done with one set of case results, finished once; and
        the database holds no other row (no duplicate from a retry, no orphan never queued)."""
        wait_for(lambda: self.check() == len(self.ids), timeout_s, "every accepted submission to be final")
        time.sleep(2)  # a late duplicate write would show up now
        self.check()
        with session_scope(self.settings.effective_database_url) as session:
            subs = [(s.id, s.status.value, s.verdict, s.attempts, s.message)
                    for s in session.scalars(select(Submission).where(Submission.id.in_(self.ids)))]
            cases = dict(session.execute(
                select(CaseResult.submission_id, func.count()).where(CaseResult.submission_id.in_(self.ids))
                .group_by(CaseResult.submission_id)).all())
            strays = [(s.id, s.status.value) for s in session.scalars(
                select(Submission).where(Submission.id.not_in(self.ids)))]
        assert self.changed == []
        assert len(subs) == len(self.ids) and all(status == "done" for _, status, *_ in subs), subs
        assert all(cases.get(sid) == 2 and verdict == "accepted" for sid, _, verdict, *_ in subs), (subs, cases)
        assert strays == [], f"rows no client was answered with (duplicates or orphans): {strays}"
        assert [c for c in self.statuses if c >= 500 and c != 503] == []
        print(f"\n{len(self.ids)} accepted, all final once; max attempts "
              f"{max(a for *_, a, _ in subs)}; 503s: {self.statuses.count(503)}; "
              f"slowest request {self.slowest_s:.2f} s; requests cut: {self.cut}")


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


@dataclass
class FaultStack:
    """What a fault test works with; `pg` and `redis` are set when the test owns them."""

    settings: Settings
    tokens: list[str]
    logs: Path
    pg: RestartablePostgres | None = None
    redis: RestartableRedis | None = None
    worker: subprocess.Popen[bytes] | None = None
    apis: list[ApiProcess] = field(default_factory=list)

    def start_worker(self, name: str) -> None:
        """Start a Celery worker process (stopping the previous one first, if any)."""
        self.kill_worker()
        self.worker = start_worker(self.settings, name, self.logs / "worker.log", **LIFE)

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group."""
        if self.worker is not None:
            kill_group(self.worker)
            self.worker = None

    def client(self) -> TestClient:
        """The API in this process with the real Celery dispatcher (use it as a context manager)."""
        return TestClient(create_app(self.settings, CeleryDispatcher(self.settings)), raise_server_exceptions=False)

    def api_process(self) -> ApiProcess:
        """The API as a `uvicorn` process of its own, started."""
        api = ApiProcess(self.settings, self.logs / "api.log")
        api.start()
        self.apis.append(api)
        return api

    def kill_apis(self) -> None:
        """SIGKILL every API process this stack started."""
        for api in self.apis:
            api.kill()

    def ledger(self) -> Ledger:
        """A ledger on this stack's database (use it as a context manager)."""
        return Ledger(self.settings)


@contextmanager
def fault_stack(tmp_path: Path, *, postgres_url: str | None = None, redis_url: str | None = None,
                appendonly: bool = False, users: int = 5, worker: str | None = "w") -> Iterator[FaultStack]:
    """Stand the stack up: the given (clean) Postgres, or a restartable one of its own when
    `postgres_url` is None; the given Redis (flushed), or a restartable one of its own
    (`appendonly` for persistence) when `redis_url` is None; `users` students; a worker named
    `worker` unless None. Everything started here is stopped on the way out."""
    import redis as redis_client

    with ExitStack() as cleanup:
        pg = broker = None
        if postgres_url is None:
            pg = RestartablePostgres()
            cleanup.callback(pg.close)
            pg.start(create=True)
            postgres_url = pg.url
            cleanup.callback(engine_for(postgres_url).dispose)  # pooled connections go before the server
            upgrade(postgres_url)
        if redis_url is None:
            broker = RestartableRedis(appendonly=appendonly)
            cleanup.callback(broker.close)
            broker.start()
            redis_url = broker.url
        else:
            redis_client.Redis.from_url(redis_url).flushdb()
        settings = make_settings(tmp_path / "data", database_url=postgres_url, broker_url=redis_url)
        settings.grader = "tests.service.slow_grader:slow"
        settings.queue_supersede = False  # each try is graded (the burst repeats students)
        with session_scope(settings.effective_database_url) as session:
            publish_tiny(session)
            tokens = [add_user(session, f"s{i}") for i in range(users)]
        stack = FaultStack(settings=settings, tokens=tokens, logs=tmp_path, pg=pg, redis=broker)
        cleanup.callback(stack.kill_apis)
        cleanup.callback(stack.kill_worker)
        if worker is not None:
            stack.start_worker(worker)
        yield stack
