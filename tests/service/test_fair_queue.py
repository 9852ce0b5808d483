"""The fair queue on SQLite and a real Postgres: round-robin claims, supersede, the rejudge
lane, queue positions and wait estimates, the rejudge notice, idempotent submit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.main import create_app
from core.db.base import session_factory
from core.db.migrate import upgrade
from core.db.models import Role, Submission, SubmissionStatus, User
from core.services import judging, sweeper
from core.services import queue as fair_queue
from core.services import submissions as service
from core.services import users as user_service
from core.settings import Settings

from .helpers import RecordingDispatcher, add_user, auth, fake_grade, make_settings, publish_tiny

GOOD = b"def add(a, b):\n    return a + b\n"
BAD = b"def add(a, b):\n    return a - b\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Session]]:
    """Settings and a session on either backend, tiny-add published, users ada and bob."""
    if request.param == "postgres":
        settings = make_settings(tmp_path, database_url=request.getfixturevalue("clean_postgres"))
    else:
        settings = make_settings(tmp_path)
        upgrade(settings.effective_database_url)
    session = session_factory(settings.effective_database_url)()
    publish_tiny(session)
    for name in ("ada", "bob"):
        add_user(session, name, Role.STUDENT)
    add_user(session, "tess", Role.INSTRUCTOR)
    yield settings, session
    session.rollback()
    session.close()


def _user(session: Session, name: str) -> User:
    user = user_service.get_user_by_name(session, name)
    assert user is not None
    return user


def _submit(settings: Settings, session: Session, name: str, source: bytes = GOOD) -> int:
    sub = service.create(session, settings, _user(session, name), "tiny-add", [("s.py", source)])
    session.commit()
    return sub.id


def _owner(session: Session, sid: int) -> str:
    sub = session.get(Submission, sid)
    assert sub is not None
    return sub.user.name


def test_claims_go_round_robin_between_users(db: tuple[Settings, Session]) -> None:
    settings, session = db
    settings.queue_supersede = False  # one student's five tries all stay queued
    flood = [_submit(settings, session, "ada") for _ in range(5)]
    late = _submit(settings, session, "bob")
    order = []
    while (owner := fair_queue.claim_next(session, "cpu", "w", None)) is not None:
        order.append(owner.submission_id)
    # ada's first try was oldest; bob's single one is next although it came after all of ada's.
    assert order[:2] == [flood[0], late], order
    assert sorted(order) == sorted([*flood, late])
    assert fair_queue.claim_next(session, "cpu", "w", None) is None  # every claim was exclusive


def test_newer_submission_supersedes_the_queued_one(db: tuple[Settings, Session]) -> None:
    settings, session = db
    first, second = _submit(settings, session, "ada", BAD), _submit(settings, session, "ada", BAD)
    other = _submit(settings, session, "bob")
    running = fair_queue.claim_next(session, "cpu", "w", None)
    assert running is not None and running.submission_id == second  # the superseded one is skipped
    third = _submit(settings, session, "ada", GOOD)  # a running one is never superseded
    session.expire_all()
    statuses = {sid: session.get(Submission, sid).status for sid in (first, second, third, other)}  # type: ignore[union-attr]
    assert statuses == {first: SubmissionStatus.SUPERSEDED, second: SubmissionStatus.RUNNING,
                        third: SubmissionStatus.QUEUED, other: SubmissionStatus.QUEUED}
    gone = session.get(Submission, first)
    assert gone is not None and gone.superseded_by_id == second and gone.verdict is None
    # A stale message for the superseded submission grades nothing.
    assert judging.run_job(settings, first, 1, "w", grader=fake_grade) is judging.Outcome.STALE


def test_rejudges_wait_behind_live_work(db: tuple[Settings, Session]) -> None:
    settings, session = db
    old = [_submit(settings, session, name) for name in ("ada", "bob")]
    for sid in old:
        assert judging.run_job(settings, sid, 1, "w", grader=fake_grade) is judging.Outcome.DONE
    service.rejudge_problem(session, "tiny-add", _user(session, "tess"))
    session.commit()
    live = _submit(settings, session, "ada")  # after the rejudge request, and by a user just served
    first = fair_queue.claim_next(session, "cpu", "w", None)
    assert first is not None and first.submission_id == live
    rest = [fair_queue.claim_next(session, "cpu", "w", None) for _ in old]
    assert sorted(c.submission_id for c in rest if c) == sorted(old)


def test_queue_position_and_wait_estimate(db: tuple[Settings, Session]) -> None:
    settings, session = db
    settings.queue_supersede = False
    ada = [_submit(settings, session, "ada") for _ in range(3)]
    bob = _submit(settings, session, "bob")
    places = fair_queue.positions(session, "cpu")
    # Round-robin: ada#1, bob, ada#2, ada#3.
    assert [places[s] for s in (*ada, bob)] == [0, 2, 3, 1]
    sub = session.get(Submission, ada[2])
    assert sub is not None
    no_worker = fair_queue.spot(session, settings, sub)
    assert no_worker is not None and no_worker.estimated_wait_s is None and no_worker.workers == 0
    sweeper.beat(session, "host:1:a", host="host", pid=1, queues="cpu", busy=None)
    sweeper.beat(session, "host:2:b", host="host", pid=2, queues="cpu,gpu", busy=None)
    with_workers = fair_queue.spot(session, settings, sub)
    assert with_workers is not None and with_workers.workers == 2
    # Three ahead, two workers, nothing graded yet (10 s a grade assumed): 1.5 rounds.
    assert with_workers.estimated_wait_s == pytest.approx(15.0)


def test_rejudge_that_changes_the_verdict_leaves_a_notice(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sid = _submit(settings, session, "ada", BAD)
    assert judging.run_job(settings, sid, 1, "w", grader=fake_grade) is judging.Outcome.DONE
    job = service.rejudge_one(session, sid, _user(session, "tess"))
    session.commit()
    assert judging.run_job(settings, sid, job.job, "w", grader=fake_grade) is judging.Outcome.DONE
    session.expire_all()
    unchanged = session.get(Submission, sid)
    assert unchanged is not None and unchanged.rejudged_at is None  # same verdict, same score: no notice

    def fixed_grade(problem, files, *, settings, progress=None):  # type: ignore[no-untyped-def]
        return fake_grade(problem, {"s.py": GOOD}, settings=settings, progress=progress)

    job = service.rejudge_one(session, sid, _user(session, "tess"))
    session.commit()
    assert judging.run_job(settings, sid, job.job, "w", grader=fixed_grade) is judging.Outcome.DONE
    session.expire_all()
    changed = session.get(Submission, sid)
    assert changed is not None and changed.verdict == "accepted" and changed.rejudged_at is not None
    assert (changed.was_verdict, changed.was_score) == ("wrong_answer", 0.0)
    assert service.rejudge_notice(changed) == {"at": changed.rejudged_at, "was_verdict": "wrong_answer",
                                              "was_score": 0.0}


def _client(settings: Settings, dispatcher: RecordingDispatcher) -> TestClient:
    return TestClient(create_app(settings, dispatcher), raise_server_exceptions=False)


def test_api_page_and_history_show_queue_place_superseded_and_rejudge_notice(
    settings: Settings, session: Session, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    ada, bob, tess = add_user(session, "ada"), add_user(session, "bob"), add_user(session, "tess", Role.INSTRUCTOR)
    with _client(settings, dispatcher) as client:
        post = lambda token, src: client.post(  # noqa: E731
            "/api/v1/submissions", data={"problem": "tiny-add"}, files=[("files", ("s.py", src))], headers=auth(token))
        first = post(ada, BAD).json()
        assert first["queue"]["position"] == 0 and first["queue"]["estimated_wait_s"] is None
        bob_sub = post(bob, BAD).json()
        assert bob_sub["queue"] == {"queue": "cpu", "lane": "live", "position": 1, "estimated_wait_s": None,
                                    "workers": 0}
        second = post(ada, BAD).json()
        old = client.get(f"/api/v1/submissions/{first['id']}", headers=auth(ada)).json()
        assert old["status"] == "superseded" and old["superseded_by"] == second["id"] and old["queue"] is None
        page = client.get(f"/submissions/{first['id']}", headers=auth(ada)).text
        assert "never graded" in page and f"/submissions/{second['id']}" in page
        assert "ahead of it" in client.get(f"/submissions/{second['id']}", headers=auth(ada)).text
        for job in list(dispatcher.jobs):
            judging.run_job(settings, job.submission_id, job.job, "w", grader=fake_grade)
        dispatcher.jobs.clear()
        assert client.post(f"/api/v1/submissions/{second['id']}/rejudge", headers=auth(tess)).status_code == 200
        session.expire_all()
        row = session.get(Submission, second["id"])
        assert row is not None
        with session_factory(settings.effective_database_url)() as s:  # the course got the fix right
            owner = judging.claim(s, row.id, row.job, "w")
            assert owner is not None
            report = fake_grade(judging.load_version(settings, row.problem_version), {"s.py": GOOD}, settings=settings)
            assert judging.finish(s, owner, report)
        body = client.get(f"/api/v1/submissions/{second['id']}", headers=auth(ada)).json()
        assert body["verdict"] == "accepted" and body["rejudged"]["was_verdict"] == "wrong_answer"
        assert body["rejudged"]["was_score"] == 0.0
        assert "Rejudged on" in client.get(f"/submissions/{second['id']}", headers=auth(ada)).text
        history = client.get("/submissions", headers=auth(ada)).text
        assert "rejudged on" in history and "superseded" in history


def test_idempotency_key_makes_a_retried_submit_return_the_same_submission(
    settings: Settings, session: Session, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    ada, bob = add_user(session, "ada"), add_user(session, "bob")
    with _client(settings, dispatcher) as client:
        def post(token: str, key: str) -> object:
            return client.post("/api/v1/submissions", data={"problem": "tiny-add"},
                               files=[("files", ("s.py", GOOD))], headers={**auth(token), "Idempotency-Key": key})

        r1, r2 = post(ada, "key-1"), post(ada, "key-1")
        assert (r1.status_code, r2.status_code) == (201, 200)  # type: ignore[attr-defined]
        assert r1.json()["id"] == r2.json()["id"]  # type: ignore[attr-defined]
        assert post(bob, "key-1").status_code == 201  # type: ignore[attr-defined]  # keys are per user
        bad = post(ada, "has space")
        assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]  # type: ignore[attr-defined]
    rows = sorted(session.scalars(select(Submission.id)).all())
    # Two rows; the retry of a still-queued one sends its turn again (harmless, claims are exclusive).
    assert len(rows) == 2 and sorted(j.submission_id for j in dispatcher.jobs) == [rows[0], rows[0], rows[1]]


def test_cpu_and_gpu_queues_are_claimed_separately(db: tuple[Settings, Session]) -> None:
    settings, session = db
    settings.queue_supersede = False
    gpu = [_submit(settings, session, "ada") for _ in range(3)]
    for sid in gpu:
        row = session.get(Submission, sid)
        assert row is not None
        row.queue = "gpu"
    session.commit()
    cpu = _submit(settings, session, "ada")
    late_gpu = _submit(settings, session, "bob")
    session.get(Submission, late_gpu).queue = "gpu"  # type: ignore[union-attr]
    session.commit()
    first_cpu = fair_queue.claim_next(session, "cpu", "w", None)
    assert first_cpu is not None and first_cpu.submission_id == cpu
    assert fair_queue.claim_next(session, "cpu", "w", None) is None  # gpu work never leaks into cpu
    order = [c.submission_id for c in iter(lambda: fair_queue.claim_next(session, "gpu", "w", None), None)]
    # ada's cpu grade does not count against her in the gpu queue; bob still comes second there.
    assert order[:2] == [gpu[0], late_gpu] and sorted(order) == sorted([*gpu, late_gpu])
