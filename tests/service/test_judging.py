"""Idempotency of the worker side, on SQLite and on a real Postgres: overlapping deliveries
of one job end with exactly one verdict and one set of case results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.base import session_factory
from core.db.migrate import upgrade
from core.db.models import CaseResult, Role, Submission, SubmissionStatus
from core.problem import load_problem
from core.services import judging
from core.services import submissions as service
from core.services import users as user_service
from core.settings import Settings

from .helpers import TINY, add_user, fake_grade, make_settings, publish_tiny


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Session]]:
    """Settings and a session on either backend, with tiny-add published and one user."""
    if request.param == "postgres":
        url = request.getfixturevalue("clean_postgres")
        settings = make_settings(tmp_path, database_url=url)
    else:
        settings = make_settings(tmp_path)
        upgrade(settings.effective_database_url)
    session = session_factory(settings.effective_database_url)()
    publish_tiny(session)
    add_user(session, "ada", Role.STUDENT)
    yield settings, session
    session.rollback()
    session.close()


def _submission(settings: Settings, session: Session) -> Submission:
    user = user_service.get_user_by_name(session, "ada")
    assert user is not None
    sub = service.create(session, settings, user, "tiny-add", [("s.py", b"a + b")])
    session.commit()
    return sub


def _case_count(session: Session, sid: int) -> int:
    return int(session.scalar(select(func.count()).select_from(CaseResult).where(CaseResult.submission_id == sid)) or 0)


def test_overlapping_deliveries_write_one_result(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sub = _submission(settings, session)
    report = fake_grade(load_problem(TINY), {"s.py": b"a + b"}, settings=settings)
    first = judging.claim(session, sub.id, sub.job, "w1")
    second = judging.claim(session, sub.id, sub.job, "w2")  # redelivered while w1 still runs
    assert first is not None and second is not None and second.attempts == 2
    judging.report_progress(session, first, 1, 2)  # the old owner's progress is ignored
    assert judging.finish(session, first, report) is False
    assert _case_count(session, sub.id) == 0
    assert judging.finish(session, second, report) is True
    assert judging.finish(session, second, report) is False  # a second final write is refused
    assert judging.claim(session, sub.id, sub.job, "w3") is None  # finished: stale from now on
    session.expire_all()
    done = session.get(Submission, sub.id)
    assert done is not None and done.status is SubmissionStatus.DONE and done.worker == "w2"
    assert _case_count(session, sub.id) == 2


def test_rejudge_replaces_case_results(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sub = _submission(settings, session)
    assert judging.run_job(settings, sub.id, sub.job, "w", grader=fake_grade) is judging.Outcome.DONE
    user = user_service.get_user_by_name(session, "ada")
    assert user is not None
    user.role = Role.INSTRUCTOR
    job = service.rejudge_one(session, sub.id, user)
    session.commit()
    assert judging.run_job(settings, sub.id, job.job - 1, "w", grader=fake_grade) is judging.Outcome.STALE
    assert judging.run_job(settings, sub.id, job.job, "w", grader=fake_grade) is judging.Outcome.DONE
    assert _case_count(session, sub.id) == 2


def test_poison_job_fails_after_max_attempts(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sub = _submission(settings, session)
    for _ in range(3):  # three workers died holding it
        assert judging.claim(session, sub.id, sub.job, "dead") is not None
    outcome = judging.run_job(settings, sub.id, sub.job, "w", grader=fake_grade, max_attempts=3)
    assert outcome is judging.Outcome.FAILED
    session.expire_all()
    failed = session.get(Submission, sub.id)
    assert failed is not None and failed.status is SubmissionStatus.FAILED
    assert failed.verdict == "system_error" and "attempts" in failed.message


def test_non_finite_numbers_are_stored(db: tuple[Settings, Session]) -> None:
    settings, session = db
    sub = _submission(settings, session)

    def nan_grade(problem, files, *, settings, progress=None):  # type: ignore[no-untyped-def]
        report = fake_grade(problem, {"s.py": b"a - b"}, settings=settings)
        report.cases[0].feedback = {"max_abs_error": float("nan"), "max_rel_error": float("inf")}
        report.speed_ratio = float("inf")
        return report

    assert judging.run_job(settings, sub.id, sub.job, "w", grader=nan_grade) is judging.Outcome.DONE
    case = session.scalars(
        select(CaseResult).where(CaseResult.submission_id == sub.id, CaseResult.name == "small")
    ).one()
    assert case.feedback == {"max_abs_error": "nan", "max_rel_error": "inf"}


def test_a_fast_grade_writes_its_first_progress_and_not_one_commit_per_case(
    db: tuple[Settings, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Progress is written for the first case, then at most once per PROGRESS_EVERY_S: forty
    # cases graded in an instant cost one progress write, not forty (the result writes the rest).
    settings, session = db
    sub = _submission(settings, session)
    written: list[tuple[int, int]] = []
    real = judging.report_progress

    def recording(s: Session, owner: object, done: int, total: int) -> None:
        written.append((done, total))
        real(s, owner, done, total)  # type: ignore[arg-type]

    monkeypatch.setattr(judging, "report_progress", recording)

    def many_cases(problem, files, *, settings, progress=None):  # type: ignore[no-untyped-def]
        for i in range(40):
            progress(i + 1, 40)
        return fake_grade(problem, files, settings=settings)

    assert judging.run_job(settings, sub.id, sub.job, "w", grader=many_cases) is judging.Outcome.DONE
    assert written[0] == (1, 40) and len(written) < 5, written
