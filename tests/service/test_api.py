"""The JSON API on SQLite with a recording dispatcher; jobs are run inline with a fake grader."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from core.db.models import CaseResult, Role, Submission
from core.services import judging
from core.settings import Settings

from .helpers import (
    TINY,
    RecordingDispatcher,
    add_user,
    auth,
    copy_fixture,
    fake_grade,
    make_settings,
    publish_tiny,
)

GOOD = b"def add(a, b):\n    return a + b\n"
BAD = b"def add(a, b):\n    return a - b\n"


def run_jobs(settings: Settings, dispatcher: RecordingDispatcher) -> None:
    """Drain the recorded jobs through the real judging service with the fake grader."""
    while dispatcher.jobs:
        job = dispatcher.jobs.pop(0)
        judging.run_job(settings, job.submission_id, job.job, "test-worker", grader=fake_grade)


def submit(client: TestClient, token: str, files: list[tuple[str, bytes]], problem: str = "tiny-add"):  # type: ignore[no-untyped-def]
    """POST a submission."""
    return client.post(
        "/api/v1/submissions",
        data={"problem": problem},
        files=[("files", (name, data)) for name, data in files],
        headers=auth(token),
    )


def test_health_reports_database_and_broker(client: TestClient, dispatcher: RecordingDispatcher) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    dispatcher.up = False
    r = client.get("/api/v1/health")
    assert r.status_code == 503 and "broker" in r.json()["detail"]


def test_login_issues_a_working_token(client: TestClient, session: Session) -> None:
    add_user(session, "ada", Role.STUDENT, password="correct horse")
    assert client.post("/api/v1/auth/login", json={"name": "ada", "password": "nope-nope"}).status_code == 401
    r = client.post("/api/v1/auth/login", json={"name": "ada", "password": "correct horse"})
    assert r.status_code == 200
    me = client.get("/api/v1/auth/me", headers=auth(r.json()["token"]))
    assert me.json()["name"] == "ada" and me.json()["role"] == "student"
    assert client.get("/api/v1/auth/me", headers=auth("tj_wrong")).status_code == 401


def test_repeated_wrong_passwords_are_throttled(settings: Settings, session: Session,
                                               dispatcher: RecordingDispatcher) -> None:
    from api.main import create_app

    add_user(session, "ada", Role.STUDENT, password="correct horse")
    add_user(session, "bob", Role.STUDENT, password="battery staple")
    session.commit()
    settings.login_max_failures = 3
    with TestClient(create_app(settings, dispatcher), raise_server_exceptions=False) as c:
        for _ in range(3):
            assert c.post("/api/v1/auth/login", json={"name": "ada", "password": "guess-guess"}).status_code == 401
        # Past the limit even the right password is refused, with a clear message and Retry-After.
        r = c.post("/api/v1/auth/login", json={"name": "ada", "password": "correct horse"})
        assert r.status_code == 429, r.text
        assert "too many failed sign-ins" in r.json()["detail"]
        assert 1 <= int(r.headers["Retry-After"]) <= settings.login_window_s + 1
        # Another user from the same client is not affected, and a success clears their count.
        for _ in range(2):
            assert c.post("/api/v1/auth/login", json={"name": "bob", "password": "guess-guess"}).status_code == 401
        assert c.post("/api/v1/auth/login", json={"name": "bob", "password": "battery staple"}).status_code == 200
        for _ in range(2):
            assert c.post("/api/v1/auth/login", json={"name": "bob", "password": "guess-guess"}).status_code == 401
        assert c.post("/api/v1/auth/login", json={"name": "bob", "password": "battery staple"}).status_code == 200


def test_login_throttle_window_slides(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.services.users as users

    now = [1000.0]
    monkeypatch.setattr(users.time, "monotonic", lambda: now[0])
    throttle = users.LoginThrottle(max_failures=2, window_s=60)
    throttle.failed("Ada", "10.0.0.1")
    now[0] += 30
    throttle.failed("ada", "10.0.0.1")
    with pytest.raises(users.TooManyAttemptsError) as info:
        throttle.check("ADA", "10.0.0.1")  # names are counted case-insensitively
    assert info.value.retry_after_s == 31
    throttle.check("ada", "10.0.0.2")  # another client is not held back
    now[0] += 31  # the first failure has left the window
    throttle.check("ada", "10.0.0.1")


def test_problem_list_detail_and_starter(client: TestClient, session: Session) -> None:
    publish_tiny(session)
    assert [p["slug"] for p in client.get("/api/v1/problems").json()] == ["tiny-add"]
    detail = client.get("/api/v1/problems/tiny-add").json()
    assert detail["max_score"] == 3.0 and "Tiny add" in detail["statement"]
    public = [c for c in detail["cases"] if c["visibility"] == "public"]
    hidden = [c for c in detail["cases"] if c["visibility"] == "hidden"]
    assert public[0]["params"] == {"n": 4} and "params" not in hidden[0]
    starter = client.get("/api/v1/problems/tiny-add/starter")
    assert starter.status_code == 200 and "def add" in starter.text
    assert client.get("/api/v1/problems/nope").status_code == 404


def test_submit_grade_and_view(
    client: TestClient, session: Session, settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    r = submit(client, token, [("whatever.py", GOOD)])
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["status"] == "queued" and len(dispatcher.jobs) == 1
    run_jobs(settings, dispatcher)
    body = client.get(f"/api/v1/submissions/{sid}", headers=auth(token)).json()
    assert body["status"] == "done" and body["verdict"] == "accepted" and body["score"] == 3.0
    assert body["progress"] == {"done": 2, "total": 2}
    assert [c["name"] for c in body["cases"]] == ["small", "hidden"]
    assert body["files"] == ["whatever.py"]
    assert client.get(f"/api/v1/submissions/{sid}/files/whatever.py", headers=auth(token)).content == GOOD
    # Someone else's submission does not exist for a student.
    other = add_user(session, "bob")
    assert client.get(f"/api/v1/submissions/{sid}", headers=auth(other)).status_code == 404


def test_hidden_case_feedback_is_not_shown(
    client: TestClient, session: Session, settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    sid = submit(client, token, [("s.py", BAD)]).json()["id"]
    run_jobs(settings, dispatcher)
    cases = {c["name"]: c for c in client.get(f"/api/v1/submissions/{sid}", headers=auth(token)).json()["cases"]}
    assert cases["small"]["feedback"] == {"check": "value", "max_abs_error": 1.0}
    assert cases["hidden"]["feedback"] is None and cases["hidden"]["verdict"] == "wrong_answer"


def test_submit_zip_tar_and_several_files(client: TestClient, session: Session) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("solution.py", GOOD)
        zf.writestr("helpers/util.py", b"X = 1\n")
    r = submit(client, token, [("sub.zip", zbuf.getvalue())])
    assert r.status_code == 201 and r.json()["files"] == ["helpers/util.py", "solution.py"]
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w:gz") as tf:
        info = tarfile.TarInfo("solution.py")
        info.size = len(GOOD)
        tf.addfile(info, io.BytesIO(GOOD))
    assert submit(client, token, [("sub.tar.gz", tbuf.getvalue())]).status_code == 201
    r = submit(client, token, [("solution.py", GOOD), ("util.py", b"Y = 2\n")])
    assert r.status_code == 201 and r.json()["files"] == ["solution.py", "util.py"]


@pytest.mark.parametrize(
    "name,member,kind",
    [("evil.zip", "../escape.py", "zip"), ("abs.tar", "/etc/passwd", "tar"), ("link.tar", "ln", "symlink")],
)
def test_archive_path_checks(client: TestClient, session: Session, name: str, member: str, kind: str) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(member, GOOD)
    else:
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo(member)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = len(GOOD)
                tf.addfile(info, io.BytesIO(GOOD))
    r = submit(client, token, [(name, buf.getvalue())])
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], str)


def test_upload_limits(client: TestClient, session: Session, settings: Settings) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    too_big = b"#" * int(settings.max_upload_mb * 1024 * 1024 + 10)
    assert submit(client, token, [("s.py", too_big)]).status_code == 422
    many = [(f"f{i}.py", b"") for i in range(settings.max_upload_files + 1)]
    r = submit(client, token, many)
    assert r.status_code == 422 and "too many files" in r.json()["detail"]


def test_submit_needs_a_token_and_a_published_problem(client: TestClient, session: Session) -> None:
    token = add_user(session, "ada")
    assert (
        client.post("/api/v1/submissions", data={"problem": "tiny-add"}, files=[("files", ("s.py", GOOD))]).status_code
        == 401
    )
    assert submit(client, token, [("s.py", GOOD)]).status_code == 404


def test_enqueue_failure_is_a_clear_503(client: TestClient, session: Session, dispatcher: RecordingDispatcher) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    dispatcher.up = False
    r = submit(client, token, [("s.py", GOOD)])
    assert r.status_code == 503 and "queue" in r.json()["detail"]


def test_leaderboard_orders_by_score_then_speed_then_time(
    client: TestClient, session: Session, settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    tokens = {n: add_user(session, n) for n in ("ada", "bob", "cyd", "dan")}
    for name in ("ada", "bob", "cyd"):
        submit(client, tokens[name], [("s.py", GOOD)])
    submit(client, tokens["dan"], [("s.py", BAD)])
    run_jobs(settings, dispatcher)  # graded first: a newer try would supersede a queued one
    submit(client, tokens["ada"], [("s.py", BAD)])  # a worse later try must not count
    run_jobs(settings, dispatcher)
    # Give bob a faster run than ada and cyd (lower speed_ratio is better).
    bob_sub = session.query(Submission).join(Submission.user).filter_by(name="bob").one()
    bob_sub.speed_ratio = 0.5
    session.commit()
    board = client.get("/api/v1/leaderboard/tiny-add").json()["entries"]
    assert [e["user"] for e in board] == ["bob", "ada", "cyd", "dan"]
    assert [e["score"] for e in board] == [3.0, 3.0, 3.0, 0.0]
    teacher = add_user(session, "tess", Role.INSTRUCTOR)
    csv_text = client.get("/api/v1/admin/problems/grades.csv", headers=auth(teacher)).text
    assert csv_text.splitlines()[0] == "user,tiny-add,total" and "ada,3,3" in csv_text.splitlines()
    overall = client.get("/api/v1/leaderboard").json()["entries"]
    assert overall[0]["score"] == 3.0 and {e["user"] for e in overall} == {"ada", "bob", "cyd", "dan"}


def test_rejudge_replaces_results_and_stale_messages_do_nothing(
    client: TestClient, session: Session, settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    student = add_user(session, "ada")
    teacher = add_user(session, "tess", Role.INSTRUCTOR)
    sid = submit(client, student, [("s.py", GOOD)]).json()["id"]
    first = dispatcher.jobs[0]
    run_jobs(settings, dispatcher)
    assert client.post(f"/api/v1/submissions/{sid}/rejudge", headers=auth(student)).status_code == 403
    r = client.post("/api/v1/admin/problems/tiny-add/rejudge", headers=auth(teacher))
    assert r.json() == {"queued": [sid]}
    # The pre-rejudge message, redelivered, is stale and changes nothing.
    assert judging.run_job(settings, sid, first.job, "w", grader=fake_grade) is judging.Outcome.STALE
    run_jobs(settings, dispatcher)
    session.expire_all()
    sub = session.get(Submission, sid)
    assert sub is not None and sub.status.value == "done" and sub.job == 2
    assert session.query(CaseResult).filter_by(submission_id=sid).count() == 2


def test_admin_user_management(client: TestClient, session: Session) -> None:
    admin = add_user(session, "root", Role.ADMIN)
    student = add_user(session, "ada")
    assert client.get("/api/v1/admin/users", headers=auth(student)).status_code == 403
    r = client.post("/api/v1/admin/users", json={"name": "tess", "role": "instructor"}, headers=auth(admin))
    assert r.status_code == 201 and r.json()["user"]["role"] == "instructor"
    assert client.post("/api/v1/admin/users", json={"name": "tess"}, headers=auth(admin)).status_code == 409
    uid = r.json()["user"]["id"]
    r2 = client.patch(f"/api/v1/admin/users/{uid}", json={"is_active": False}, headers=auth(admin))
    assert r2.json()["is_active"] is False
    assert client.get("/api/v1/auth/me", headers=auth(r.json()["token"])).status_code == 401


def test_instructor_upload_validate_publish(
    client: TestClient,
    session: Session,
    settings: Settings,
    dispatcher: RecordingDispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import core.grading
    from core.services import packages

    class Report:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

        def model_dump(self, mode: str = "json") -> dict[str, object]:
            return {"ok": self.ok, "solutions": []}

    outcome = {"ok": False}
    monkeypatch.setattr(core.grading, "validate", lambda problem, settings: Report(outcome["ok"]))
    teacher = add_user(session, "tess", Role.INSTRUCTOR)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(TINY, arcname="tiny-add")
    r = client.post("/api/v1/admin/problems", files={"package": ("tiny.tgz", buf.getvalue())}, headers=auth(teacher))
    assert r.status_code == 202, r.text
    version_id = r.json()["version"]["id"]
    assert r.json()["validation"]["state"] == "pending" and dispatcher.validations == [version_id]
    assert client.get("/api/v1/problems").json() == []  # not published yet
    r = client.post("/api/v1/admin/problems/tiny-add/publish", headers=auth(teacher))
    assert r.status_code == 409 and "still being validated" in r.json()["detail"]
    # What the worker's validation task does:
    packages.run_validation(session, settings, version_id)
    versions = client.get("/api/v1/admin/problems/tiny-add/versions", headers=auth(teacher)).json()
    report = versions[0]["validation"]
    assert {k: report[k] for k in ("ok", "solutions", "state")} == {"ok": False, "solutions": [], "state": "done"}
    assert report["started_at"] <= report["finished_at"]
    r = client.post("/api/v1/admin/problems/tiny-add/publish", headers=auth(teacher))
    assert r.status_code == 409 and "failed validation" in r.json()["detail"]
    r = client.post("/api/v1/admin/problems/tiny-add/publish", json={"force": True}, headers=auth(teacher))
    assert r.status_code == 200 and r.json()["current"] is True
    assert [p["slug"] for p in client.get("/api/v1/problems").json()] == ["tiny-add"]
    bad = client.post("/api/v1/admin/problems", files={"package": ("x.zip", b"garbage")}, headers=auth(teacher))
    assert bad.status_code == 422 and isinstance(bad.json()["detail"], str)
    dispatcher.up = False
    r = client.post("/api/v1/admin/problems", files={"package": ("tiny.tgz", buf.getvalue())}, headers=auth(teacher))
    # Same content again: the existing, validated version; no new task, so no broker needed.
    assert r.status_code == 202 and r.json()["validation"]["state"] == "done"
    # Validating again needs the queue: unreachable, it is a 503 and the version says error
    # (never pending with nobody to run it); with the queue back, it is pending again.
    again = f"/api/v1/admin/problems/tiny-add/versions/{version_id}/validate"
    r = client.post(again, headers=auth(teacher))
    assert r.status_code == 503 and "unreachable" in r.json()["detail"]
    versions = client.get("/api/v1/admin/problems/tiny-add/versions", headers=auth(teacher)).json()
    assert versions[0]["validation"]["state"] == "error"
    dispatcher.up = True
    r = client.post(again, headers=auth(teacher))
    assert r.status_code == 202 and r.json()["validation"]["state"] == "pending"
    assert dispatcher.validations == [version_id, version_id]


def test_sse_stream_ends_with_done(
    client: TestClient, session: Session, settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    publish_tiny(session)
    token = add_user(session, "ada")
    sid = submit(client, token, [("s.py", GOOD)]).json()["id"]
    run_jobs(settings, dispatcher)
    with client.stream("GET", f"/api/v1/submissions/{sid}/events", headers=auth(token)) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    assert "event: done" in text
    data = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert json.loads(data[-1])["verdict"] == "accepted"


def test_broken_package_upload_names_the_field_not_a_server_path(
        client: TestClient, session: Session, settings: Settings, tmp_path: Path) -> None:
    teacher = add_user(session, "tina", Role.INSTRUCTOR)
    pkg = copy_fixture(tmp_path)
    (pkg / "problem.toml").write_text((pkg / "problem.toml").read_text().replace('title = ', 'titel = ', 1))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(pkg, arcname="tiny-add")
    r = client.post("/api/v1/admin/problems", files={"package": ("tiny.tgz", buf.getvalue())}, headers=auth(teacher))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "problem.toml" in detail and "titel" in detail
    assert "/tmp" not in detail and str(settings.data_dir) not in detail and str(tmp_path) not in detail


def test_database_down_is_503_with_retry_after_never_500(tmp_path: Path, dispatcher: RecordingDispatcher) -> None:
    """A Postgres that is down (nothing listens on its port: the driver's own connection error)."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = make_settings(tmp_path / "down", database_url=f"postgresql+psycopg://tj:tj@127.0.0.1:{port}/tj")
    settings.data_dir.mkdir(parents=True)
    with TestClient(create_app(settings, dispatcher), raise_server_exceptions=False) as down:
        api = down.get("/api/v1/problems", headers=auth("no-such-token"))
        assert api.status_code == 503 and api.headers["Retry-After"] == "5"
        assert "database is unavailable" in api.json()["detail"]
        page = down.post("/login", data={"name": "ada", "password": "correct horse"}, headers={"Accept": "text/html"})
        assert page.status_code == 503 and "database" in page.text and str(port) not in page.text


class _SlowBroker(RecordingDispatcher):
    """A broker that holds a publish until told (an overloaded or half-reachable Redis)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.release = threading.Event()
        self.released_in_time = False

    def enqueue(self, job):  # type: ignore[no-untyped-def]
        self.released_in_time = self.release.wait(timeout=10)
        super().enqueue(job)


def test_a_slow_broker_holds_only_its_own_request(settings: Settings, session: Session) -> None:
    """While a publish hangs, another request is answered: the publish does not hold the
    event loop (if it did, the other request could only finish after the broker's 10 s)."""
    import asyncio

    import httpx

    publish_tiny(session)
    token = add_user(session, "ada")
    slow = _SlowBroker()
    app = create_app(settings, slow)

    async def scenario() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tj") as c:
            posting = asyncio.create_task(c.post("/api/v1/submissions", data={"problem": "tiny-add"},
                                                 files=[("files", ("s.py", GOOD))], headers=auth(token)))
            await asyncio.sleep(0.3)  # the submission is stored and its publish is hanging by now
            other = await c.get("/api/v1/problems", headers=auth(token))
            assert other.status_code == 200
            slow.release.set()  # only now may the broker take the message
            return (await posting).status_code

    assert asyncio.run(scenario()) == 201
    assert slow.released_in_time and len(slow.jobs) == 1
