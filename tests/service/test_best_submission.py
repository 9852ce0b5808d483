"""One definition of a user's best submission: the leaderboard and every export agree,
ties included (same score and speed: the earlier submission wins, then the lower id)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.models import Problem, Role, Submission, SubmissionStatus, User

from .helpers import add_user, auth, publish_tiny


def _done(session: Session, user: str, score: float, speed: float | None, minutes_ago: int) -> int:
    problem = session.scalars(select(Problem).where(Problem.slug == "tiny-add")).one()
    sub = Submission(
        user_id=session.scalars(select(User.id).where(User.name == user)).one(),
        problem_id=problem.id,
        problem_version_id=problem.current_version_id,
        status=SubmissionStatus.DONE,
        verdict="accepted" if score == 3 else "wrong_answer",
        score=score,
        max_score=3.0,
        speed_ratio=speed,
        created_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    session.add(sub)
    session.commit()
    return sub.id


def test_a_tie_ranks_the_same_in_the_board_and_every_export(client: TestClient, session: Session) -> None:
    publish_tiny(session)
    teacher = add_user(session, "tess", Role.INSTRUCTOR)
    add_user(session, "ada")
    add_user(session, "bob")
    # ada ties with herself: same score and speed; the second row (higher id) was submitted
    # first, so it is the best (ordering by id alone would pick the other one).
    _done(session, "ada", 3.0, 1.5, minutes_ago=5)
    ada_best = _done(session, "ada", 3.0, 1.5, minutes_ago=50)
    # bob: a missing speed ratio ranks after a measured one at the same score.
    _done(session, "bob", 3.0, None, minutes_ago=60)
    bob_best = _done(session, "bob", 3.0, 2.0, minutes_ago=1)
    _done(session, "bob", 1.0, 0.5, minutes_ago=90)
    expected = {"ada": ada_best, "bob": bob_best}

    board = client.get("/api/v1/leaderboard/tiny-add", headers=auth(teacher)).json()["entries"]
    assert {e["user"]: e["submission_id"] for e in board} == expected
    assert [e["user"] for e in board] == ["ada", "bob"]  # faster first at equal scores

    r = client.get("/instructor/export/grades.csv?problem=tiny-add", headers=auth(teacher))
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["user"]: int(row["submission_id"]) for row in rows} == expected

    r = client.get("/instructor/export/gradescope.json?problem=tiny-add", headers=auth(teacher))
    assert {s["user"]: s["submission_id"] for s in r.json()["students"]} == expected

    r = client.get("/api/v1/admin/problems/grades.csv", headers=auth(teacher))
    totals = {row["user"]: row["tiny-add"] for row in csv.DictReader(io.StringIO(r.text))}
    assert totals == {"ada": "3", "bob": "3"}
