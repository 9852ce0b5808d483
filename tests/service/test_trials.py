"""Trial runs over the API (public cases only, not counted, rate-limited) and the solution
checks at submit (an empty file or no file for the graded module is a 400, never graded)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core.services import judging
from core.settings import Settings

from .helpers import RecordingDispatcher, add_user, auth, fake_grade, publish_tiny

GOOD = b"def add(a, b):\n    return a + b\n"
BAD = b"def add(a, b):\n    return a - b\n"


def _drain(settings: Settings, dispatcher: RecordingDispatcher) -> None:
    while dispatcher.jobs:
        job = dispatcher.jobs.pop(0)
        judging.run_job(settings, job.submission_id, job.job, "test-worker", grader=fake_grade)


def _post(client: TestClient, token: str, path: str, files: list[tuple[str, bytes]]):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/{path}", data={"problem": "tiny-add"},
                       files=[("files", f) for f in files], headers=auth(token))


def test_trial_grades_public_cases_and_counts_nowhere(
        client: TestClient, session: Session, settings: Settings, dispatcher: RecordingDispatcher) -> None:
    publish_tiny(session)
    token = add_user(session, "tia")
    r = _post(client, token, "trials", [("solution.py", GOOD)])
    assert r.status_code == 201, r.text
    trial = r.json()
    assert trial["kind"] == "trial" and trial["max_score"] == 1.0  # the public case's point only
    _drain(settings, dispatcher)
    done = client.get(f"/api/v1/submissions/{trial['id']}", headers=auth(token)).json()
    assert done["status"] == "done" and done["verdict"] == "accepted" and done["kind"] == "trial"
    assert [c["name"] for c in done["cases"]] == ["small"]  # the hidden case never ran
    # Not a submission: not in the history, not on the leaderboard, not the best.
    assert client.get("/api/v1/submissions", headers=auth(token)).json() == []
    assert client.get("/api/v1/leaderboard/tiny-add").json()["entries"] == []
    # A wrong trial shows the public case's full feedback.
    wrong = _post(client, token, "trials", [("solution.py", BAD)]).json()
    _drain(settings, dispatcher)
    wrong = client.get(f"/api/v1/submissions/{wrong['id']}", headers=auth(token)).json()
    assert wrong["verdict"] == "wrong_answer" and wrong["cases"][0]["feedback"]["check"] == "value"
    # A real submission still counts as one.
    sub = _post(client, token, "submissions", [("solution.py", GOOD)]).json()
    _drain(settings, dispatcher)
    assert [s["id"] for s in client.get("/api/v1/submissions", headers=auth(token)).json()] == [sub["id"]]
    assert [e["user"] for e in client.get("/api/v1/leaderboard/tiny-add").json()["entries"]] == ["tia"]


def test_trials_are_rate_limited_per_user(
        client: TestClient, session: Session, settings: Settings) -> None:
    publish_tiny(session)
    first, second = add_user(session, "rita"), add_user(session, "sam")
    for _ in range(settings.trial_runs_per_window):
        assert _post(client, first, "trials", [("solution.py", GOOD)]).status_code == 201
    refused = _post(client, first, "trials", [("solution.py", GOOD)])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "trial runs" in refused.json()["detail"]
    assert _post(client, second, "trials", [("solution.py", GOOD)]).status_code == 201
    # Submitting is not limited by it.
    assert _post(client, first, "submissions", [("solution.py", GOOD)]).status_code == 201


def test_empty_or_moduleless_solutions_are_refused_not_graded(
        client: TestClient, session: Session, dispatcher: RecordingDispatcher) -> None:
    publish_tiny(session)
    token = add_user(session, "una")
    for path in ("submissions", "trials"):
        empty = _post(client, token, path, [("solution.py", b"  \n\n")])
        assert empty.status_code == 400 and "empty" in empty.json()["detail"], empty.text
        other = _post(client, token, path, [("helpers.py", GOOD), ("notes.py", b"x = 1\n")])
        assert other.status_code == 400 and "solution.py" in other.json()["detail"], other.text
    assert dispatcher.jobs == []
    # One file under any name is installed as the module, and is fine.
    assert _post(client, token, "submissions", [("my_add.py", GOOD)]).status_code == 201
