"""The sweeper, heartbeats, the lease and the database retries, on SQLite and a real Postgres."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import update
from sqlalchemy.orm import Session

from core.db.base import session_factory, utcnow
from core.db.lifecycle_models import WorkerHeartbeat
from core.db.migrate import upgrade
from core.db.models import Role, Submission, SubmissionStatus
from core.services import judging, sweeper
from core.services import queue as fair_queue
from core.services import submissions as service
from core.services import users as user_service
from core.services.dbretry import DatabaseUnavailableError, with_session
from core.services.reconciler import LifeCycleThread
from core.services.submissions import Job
from core.settings import Settings

from .helpers import add_user, make_settings, publish_tiny


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Session]]:
    """Settings (short life-cycle timings) and a session on either backend."""
    if request.param == "postgres":
        settings = make_settings(tmp_path, database_url=request.getfixturevalue("clean_postgres"))
    else:
        settings = make_settings(tmp_path)
        upgrade(settings.effective_database_url)
    settings.heartbeat_timeout_s = 5
    settings.republish_after_s = 5
    session = session_factory(settings.effective_database_url)()
    publish_tiny(session)
    add_user(session, "ada", Role.STUDENT)
    yield settings, session
    session.rollback()
    session.close()


def _queued(settings: Settings, session: Session) -> int:
    user = user_service.get_user_by_name(session, "ada")
    assert user is not None
    sub = service.create(session, settings, user, "tiny-add", [("s.py", b"a + b")])
    session.commit()
    return sub.id


def _age(session: Session, sid: int, seconds: float, **extra: object) -> None:
    then = utcnow() - timedelta(seconds=seconds)
    session.execute(update(Submission).where(Submission.id == sid).values(started_at=then, queued_at=then, **extra))
    session.commit()


def _beat(session: Session, identity: str, busy: int | None, age_s: float = 0.0) -> None:
    sweeper.beat(session, identity, host="h", pid=1, queues="cpu", busy=busy)
    session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.id == identity)
                    .values(beat_at=utcnow() - timedelta(seconds=age_s)))
    session.commit()


def _status(session: Session, sid: int) -> Submission:
    session.expire_all()
    sub = session.get(Submission, sid)
    assert sub is not None
    return sub


def test_a_dead_workers_claim_is_released_and_sent_again(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sid = _queued(settings, session)
    _beat(session, "dead:1:x", busy=None)
    owner = fair_queue.claim_next(session, "cpu", "dead@h:task", "dead:1:x")
    assert owner is not None
    _age(session, sid, 60)
    _beat(session, "dead:1:x", busy=sid, age_s=60)  # stopped beating a minute ago
    sent: list[Job] = []
    report = sweeper.sweep(session, settings, sent.append)
    assert report.released == [sid] and [j.submission_id for j in sent] == [sid]
    sub = _status(session, sid)
    assert sub.status is SubmissionStatus.QUEUED and sub.claim is None and "queued again" in sub.message
    # The old holder's late write is refused; the next claim takes it over.
    assert judging.report_progress(session, owner, 1, 2) is None and _status(session, sid).progress_done == 0
    again = fair_queue.claim_next(session, "cpu", "w2", "live:2:y")
    assert again is not None and again.submission_id == sid and again.attempts == 2


def test_live_claims_are_left_alone_and_orphans_are_released(db: tuple[Settings, Session]) -> None:
    settings, session = db
    busy = _queued(settings, session)
    _beat(session, "live:1:a", busy=None)
    assert fair_queue.claim_next(session, "cpu", "w", "live:1:a") is not None
    _age(session, busy, 60)
    _beat(session, "live:1:a", busy=busy)  # beating, and busy with it
    assert sweeper.sweep(session, settings, lambda job: None).released == []
    # The same holder, alive, now says it is busy with nothing: the claim was orphaned.
    _beat(session, "live:1:a", busy=None)
    assert sweeper.sweep(session, settings, lambda job: None).released == [busy]


def test_claims_past_the_retry_budget_fail_with_a_clear_message(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sid = _queued(settings, session)
    assert fair_queue.claim_next(session, "cpu", "w", "gone:1:z") is not None
    _age(session, sid, 60, attempts=settings.task_max_attempts)
    report = sweeper.sweep(session, settings, lambda job: None)
    sub = _status(session, sid)
    assert report.failed == [sid] and sub.status is SubmissionStatus.FAILED and sub.verdict == "system_error"
    assert f"interrupted {settings.task_max_attempts} times" in sub.message


def test_starved_queued_work_is_sent_again_only_to_idle_workers(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sid = _queued(settings, session)  # its publish never happened
    sent: list[Job] = []
    assert sweeper.sweep(session, settings, sent.append).republished == []  # fresh: its turn may be coming
    _age(session, sid, 60)
    assert sweeper.sweep(session, settings, sent.append).republished == []  # no worker alive: nobody to send to
    _beat(session, "idle:1:a", busy=None)
    assert sweeper.sweep(session, settings, sent.append).republished == [sid]
    assert sweeper.sweep(session, settings, sent.append).republished == []  # not again before republish_after_s
    assert [j.submission_id for j in sent] == [sid]


def test_one_lease_owner_at_a_time(db: tuple[Settings, Session]) -> None:
    _, session = db
    assert sweeper.acquire_lease(session, "sweeper", "a", 60)
    assert not sweeper.acquire_lease(session, "sweeper", "b", 60)
    assert sweeper.acquire_lease(session, "sweeper", "a", 60)  # renewed by its owner
    assert sweeper.acquire_lease(session, "sweeper", "b", -1) is False
    assert sweeper.acquire_lease(session, "sweeper", "a", -1)  # a renewal that expires at once
    assert sweeper.acquire_lease(session, "sweeper", "b", 60)  # ... lets another take over


def test_life_cycle_threads_beat_and_only_one_sweeps(db: tuple[Settings, Session]) -> None:
    settings, session = db
    settings.heartbeat_interval_s = 0.05
    settings.heartbeat_timeout_s = 0.2
    settings.sweep_interval_s = 0.05
    threads = [LifeCycleThread(settings, lambda job: None, queues="cpu") for _ in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(t.sweeps for t in threads) < 5:
            time.sleep(0.05)
    finally:
        for t in threads:
            t.stop()
            t.join(5)
    assert sorted(t.sweeps > 0 for t in threads) == [False, True]  # the lease holder sweeps, the other never
    session.expire_all()
    assert session.query(WorkerHeartbeat).count() == 0  # a clean stop forgets the heartbeat


def test_transient_database_errors_are_retried_then_reported(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    upgrade(settings.effective_database_url)
    calls: list[int] = []

    def flaky(session: Session) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "ok"

    assert with_session(settings.effective_database_url, flaky, attempts=5) == "ok" and len(calls) == 3
    with pytest.raises(DatabaseUnavailableError):
        with_session(settings.effective_database_url, _always_down, attempts=2)
    with pytest.raises(ValueError):  # not transient: never retried
        with_session(settings.effective_database_url, _bug, attempts=5)


def _always_down(session: Session) -> None:
    raise sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused"))


def _bug(session: Session) -> None:
    raise ValueError("a bug, not an outage")


def test_a_visibility_timeout_below_the_task_limit_is_named(tmp_path: Path) -> None:
    from core.services.broker import visibility_problem

    settings = make_settings(tmp_path, broker_url="redis://127.0.0.1:6379/0")
    assert visibility_problem(settings) is None  # 3600 s > 2 x 300 + 90
    settings.broker_visibility_timeout_s = 600
    problem = visibility_problem(settings)
    assert problem is not None and "690" in problem
    assert visibility_problem(make_settings(tmp_path)) is None  # the embedded broker has none
