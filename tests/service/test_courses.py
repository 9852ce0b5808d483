"""The course API on a real Postgres: courses, a 300-student roster from CSV, assignments,
extensions, the gradebook and its CSV; quotas (429 with a retry time on the API and the CLI),
hard close, course visibility of problems, results and leaderboard policies, templates; and
one assignment graded for real in the sandbox. Deadlines and quotas run on core.clock."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app as cli_app
from core import clock
from core.db.base import session_factory, utcnow
from core.db.models import Role, User
from core.services import judging
from core.services import users as user_service
from core.settings import Settings

from .course_factories import BUNDLED, graded, publish_bundled, roster_csv
from .helpers import RecordingDispatcher, add_user, auth, fake_grade, make_settings, publish_tiny
from .servers import app_in_thread

pytestmark = pytest.mark.postgres

GOOD = b"def add(a, b):\n    return a + b\n"
BAD = b"def add(a, b):\n    return a - b\n"
H, D = timedelta(hours=1), timedelta(days=1)


@dataclass
class Env:
    """A Postgres-backed app, a session on the same database and the instructor's token."""

    client: TestClient
    session: Session
    settings: Settings
    dispatcher: RecordingDispatcher
    ines: str

    def token_for(self, name: str) -> str:
        """An API token for a user the roster created."""
        user = user_service.get_user_by_name(self.session, name)
        assert user is not None
        token = user_service.issue_token(self.session, user)
        self.session.commit()
        return token


@pytest.fixture
def env(clean_postgres: str, tmp_path: Path) -> Iterator[Env]:
    """The app on the emptied Postgres, with tiny-add published and an instructor."""
    settings = make_settings(tmp_path / "data", database_url=clean_postgres)
    settings.data_dir.mkdir(parents=True)
    session = session_factory(clean_postgres)()
    publish_tiny(session)
    ines = add_user(session, "ines", Role.INSTRUCTOR)
    dispatcher = RecordingDispatcher()
    with TestClient(create_app(settings, dispatcher), raise_server_exceptions=False) as client:
        yield Env(client, session, settings, dispatcher, ines)
    clock.set_source(None)
    session.rollback()
    session.close()


def _course(env: Env, slug: str = "llm", n: int = 3) -> None:
    r = env.client.post("/api/v1/courses", json={"slug": slug, "title": "LLM course"}, headers=auth(env.ines))
    assert r.status_code == 201, r.text
    r = env.client.post(f"/api/v1/courses/{slug}/roster", files={"file": ("roster.csv", roster_csv(n))},
                        headers=auth(env.ines))
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["created"] == n


@contextmanager
def serving(env: Env) -> Iterator[str]:
    """The env's app on a free port (uvicorn in a thread), for the CLI; yields its URL."""
    with app_in_thread(create_app(env.settings, env.dispatcher)) as url:
        yield url


def _assignment(env: Env, course: str = "llm", **fields: object) -> dict:  # type: ignore[type-arg]
    body = {"slug": "a1", "title": "A1", "release_at": (utcnow() - D).isoformat(),
            "due_at": (utcnow() + D).isoformat(), "problems": [{"slug": "tiny-add", "points": 10}], **fields}
    r = env.client.post(f"/api/v1/courses/{course}/assignments", json=body, headers=auth(env.ines))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _submit(env: Env, token: str, source: bytes = GOOD, problem: str = "tiny-add"):  # type: ignore[no-untyped-def]
    return env.client.post("/api/v1/submissions", data={"problem": problem},
                           files=[("files", ("s.py", source))], headers=auth(token))


def _run_jobs(env: Env) -> None:
    while env.dispatcher.jobs:
        job = env.dispatcher.jobs.pop(0)
        judging.run_job(env.settings, job.submission_id, job.job, "test-worker", grader=fake_grade)


def test_api_roster_of_300_assignment_extension_gradebook_csv_and_moved_due_time(env: Env) -> None:
    maxes = publish_bundled(env.session)
    _course(env, n=300)
    due = datetime(2026, 5, 1, 12, tzinfo=UTC)
    body = {"release_at": (due - 7 * D).isoformat(), "due_at": due.isoformat(), "late_policy": "per_day",
            "late_penalty_pct": 25, "problems": [{"slug": s, "points": p} for s, p in zip(BUNDLED, (20, 30, 50),
                                                                                          strict=True)]}
    _assignment(env, **body)
    r = env.client.put("/api/v1/courses/llm/assignments/a1/extensions/s003",
                       json={"due_at": (due + 3 * D).isoformat(), "reason": "ill"}, headers=auth(env.ines))
    assert r.status_code == 200, r.text
    session, full = env.session, maxes
    mhm, imm, ml = BUNDLED
    graded(session, "s001", mhm, full[mhm], due - H)
    graded(session, "s001", ml, full[ml], due + 2 * H)  # one started day late: -25%
    graded(session, "s002", imm, full[imm], due + 49 * H)  # three started days: -75%
    graded(session, "s003", ml, full[ml], due + 2 * D)  # late, but inside the extension

    def book() -> dict[str, dict[str, str]]:
        r = env.client.get("/api/v1/courses/llm/assignments/a1/gradebook.csv", headers=auth(env.ines))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        return {row["user"]: row for row in csv.DictReader(io.StringIO(r.text))}

    rows = book()
    assert len(rows) == 300
    assert (rows["s001"][mhm], rows["s001"][ml], rows["s001"]["total"]) == ("20", "37.5", "57.5")
    assert (rows["s002"][imm], rows["s002"][f"{imm}_penalty_pct"], rows["s002"]["total"]) == ("7.5", "75", "7.5")
    assert (rows["s003"][ml], rows["s003"]["extension"], rows["s003"]["total"]) == ("50", "yes", "50")
    assert rows["s004"]["total"] == "0"

    r = env.client.patch("/api/v1/courses/llm/assignments/a1", json={"due_at": (due + 2 * D + H).isoformat()},
                         headers=auth(env.ines))
    assert r.status_code == 200, r.text
    rows = book()
    assert (rows["s001"]["total"], rows["s002"]["total"], rows["s003"]["total"]) == ("70", "30", "50")

    # The JSON gradebook and the student's own view agree; a student gets no gradebook.
    js = env.client.get("/api/v1/courses/llm/assignments/a1/gradebook", headers=auth(env.ines)).json()
    assert {r["user"]: r["total"] for r in js["rows"]}["s001"] == 70
    s003 = env.token_for("s003")
    mine = env.client.get("/api/v1/courses/llm/assignments/a1", headers=auth(s003)).json()["mine"]
    assert mine["total"] == 50 and mine["extension"] is True and mine["due_at"] == (due + 3 * D).isoformat()
    assert env.client.get("/api/v1/courses/llm/assignments/a1/gradebook", headers=auth(s003)).status_code == 403
    gs = env.client.get("/api/v1/courses/llm/assignments/a1/gradescope.json", headers=auth(env.ines)).json()
    assert next(s for s in gs["students"] if s["user"] == "s001")["score"] == 70


def test_roster_report_created_updated_unchanged_refused(env: Env) -> None:
    _course(env, n=2)
    add_user(env.session, "known")
    csv_text = ("username,display_name,email,section,role\n"
                "s001,Student One,s001@uni.example,sec-9,\n"  # section changed
                "s002,Student 2,s002@uni.example,sec-2,\n"  # as it is
                "known,Known Person,known@uni.example,A,ta\n"  # existing account, new member
                ",Nobody,x@uni.example,A,\n"
                "bad name!,Bad,b@uni.example,A,\n"
                "s001,Again,s001@uni.example,A,\n"
                "eve,Eve,not-an-email,A,\n"
                "zed,Zed,zed@uni.example,A,professor\n")
    r = env.client.post("/api/v1/courses/llm/roster", files={"file": ("r.csv", csv_text.encode())},
                        headers=auth(env.ines))
    assert r.status_code == 200, r.text
    rows = {(row["line"], row["username"]): row for row in r.json()["rows"]}
    assert rows[(2, "s001")]["action"] == "updated" and "section" in rows[(2, "s001")]["detail"]
    assert rows[(3, "s002")]["action"] == "unchanged"
    assert rows[(4, "known")]["action"] == "created" and rows[(4, "known")]["new_account"] is False
    assert rows[(5, "")]["detail"] == "no user name"
    assert rows[(6, "bad name!")]["action"] == "refused" and "bad user name" in rows[(6, "bad name!")]["detail"]
    assert "listed twice" in rows[(7, "s001")]["detail"]
    assert "invalid email" in rows[(8, "eve")]["detail"]
    assert "unknown role" in rows[(9, "zed")]["detail"]
    assert r.json()["counts"] == {"created": 1, "updated": 1, "unchanged": 1, "refused": 5}
    roster = env.client.get("/api/v1/courses/llm/roster", headers=auth(env.ines)).json()
    assert {m["user"]: m["role"] for m in roster}["known"] == "ta"
    bad = env.client.post("/api/v1/courses/llm/roster", files={"file": ("r.csv", b"name;mail\nx;y\n")},
                          headers=auth(env.ines))
    assert bad.status_code == 400 and "username" in bad.json()["detail"]
    student = env.token_for("s002")
    refused = env.client.post("/api/v1/courses/llm/roster", files={"file": ("r.csv", roster_csv(1))},
                              headers=auth(student))
    assert refused.status_code == 403


def test_daily_quota_is_a_429_with_the_next_time_on_the_api_and_the_cli(env: Env) -> None:
    _course(env)
    _assignment(env, quota_per_day=2, quota_total=3)
    s001 = env.token_for("s001")
    first = _submit(env, s001)
    assert first.status_code == 201, first.text
    assert _submit(env, s001).status_code == 201
    refused = _submit(env, s001)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    next_at = datetime.fromisoformat(body["next_allowed_at"])
    first_at = datetime.fromisoformat(first.json()["created_at"])
    assert abs((next_at - (first_at + D)).total_seconds()) < 1
    retry = int(refused.headers["Retry-After"])
    assert 0 < retry <= 86400 and body["retry_after_s"] == retry
    assert "2 submissions per 24 hours" in body["detail"] and "next one is allowed at" in body["detail"]
    # Staff are exempt; other students have their own count.
    assert _submit(env, env.ines).status_code == 201
    assert _submit(env, env.token_for("s002")).status_code == 201

    # The CLI against a real server: the same refusal, printed, and a non-zero exit.
    with serving(env) as url:
        solution = env.settings.data_dir / "s.py"
        solution.write_bytes(GOOD)
        result = CliRunner().invoke(cli_app, ["submit", "tiny-add", str(solution), "--server", url, "--token", s001])
        assert result.exit_code != 0
        assert "429" in result.output and "next one is allowed at" in result.output

    # A day later the window has moved on; the total quota (3) then ends it for good.
    with clock.shifted(D + H):
        assert _submit(env, s001).status_code == 201
        total = _submit(env, s001)
        assert total.status_code == 403 and "all 3 submissions" in total.json()["detail"]


def test_hard_close_release_and_course_visibility(env: Env) -> None:
    publish_bundled(env.session, BUNDLED[:1])  # in no course: everyone sees it
    _course(env)
    add_user(env.session, "outsider")
    outsider = user_service.issue_token(env.session, user_service.get_user_by_name(env.session, "outsider"))  # type: ignore[arg-type]
    env.session.commit()
    now = utcnow()
    _assignment(env, release_at=(now + D).isoformat(), due_at=(now + 2 * D).isoformat(),
                hard_close_at=(now + 3 * D).isoformat())
    s001 = env.token_for("s001")

    def listed(token: str) -> set[str]:
        return {p["slug"] for p in env.client.get("/api/v1/problems", headers=auth(token)).json()}

    assert listed(outsider) == {BUNDLED[0]} and listed(s001) == {BUNDLED[0]}  # not released yet
    assert env.client.get("/api/v1/problems/tiny-add", headers=auth(s001)).status_code == 404
    assert "tiny-add" in listed(env.ines)
    assert {p["slug"] for p in env.client.get("/api/v1/problems").json()} == {BUNDLED[0]}  # anonymous
    with clock.shifted(D + H):
        assert listed(s001) == {BUNDLED[0], "tiny-add"} and listed(outsider) == {BUNDLED[0]}
        assert _submit(env, outsider).status_code == 404
        assert _submit(env, s001).status_code == 201
        assert env.client.get("/api/v1/courses/llm", headers=auth(s001)).json()["assignments"][0]["slug"] == "a1"
        assert env.client.get("/api/v1/courses/llm", headers=auth(outsider)).status_code == 404
    with clock.shifted(3 * D + H):
        closed = _submit(env, s001)
        assert closed.status_code == 403 and "closed" in closed.json()["detail"]
        # An extension past the close reopens it for that student only.
        r = env.client.put("/api/v1/courses/llm/assignments/a1/extensions/s001",
                           json={"due_at": (now + 5 * D).isoformat()}, headers=auth(env.ines))
        assert r.status_code == 200
        assert _submit(env, s001).status_code == 201
        assert _submit(env, env.token_for("s002")).status_code == 403


def test_results_withheld_until_due_and_leaderboard_policies(env: Env) -> None:
    _course(env)
    _assignment(env, results_policy="after_due", leaderboard="anonymous")
    s001, s002 = env.token_for("s001"), env.token_for("s002")
    sid = _submit(env, s001, BAD).json()["id"]
    _submit(env, s002, GOOD)
    _run_jobs(env)
    view = env.client.get(f"/api/v1/submissions/{sid}", headers=auth(s001)).json()
    assert [c["name"] for c in view["cases"]] == ["small"] and view["verdict"] is None
    assert view["score"] == 0 and view["max_score"] == 1 and "after the due time" in view["message"]
    listed = env.client.get("/api/v1/submissions", headers=auth(s001)).json()
    assert [c["name"] for c in listed[0]["cases"]] == ["small"]
    page = env.client.get(f"/submissions/{sid}", headers=auth(s001)).text  # the web page alike
    assert 'data-case="small"' in page and 'data-case="hidden"' not in page and "after the due time" in page
    assert re.search(r'id="overall-verdict">([^<]*)<', page).group(1) == ""  # type: ignore[union-attr]
    assert 'data-case="hidden"' in env.client.get(f"/submissions/{sid}", headers=auth(env.ines)).text
    history = env.client.get("/submissions", headers=auth(s001)).text
    assert f'/submissions/{sid}' in history and "Wrong answer" not in history
    board_page = env.client.get("/problems/tiny-add/leaderboard", headers=auth(s001)).text
    assert '<tr class="me">' in board_page and "s002" not in board_page
    staff_view = env.client.get(f"/api/v1/submissions/{sid}", headers=auth(env.ines)).json()
    assert [c["name"] for c in staff_view["cases"]] == ["small", "hidden"] and staff_view["verdict"] == "wrong_answer"
    # The live stream (server-sent events) withholds the same, for the student only.
    events = env.client.get(f"/api/v1/submissions/{sid}/events", headers=auth(s001)).text
    assert "event: done" in events and "wrong_answer" not in events and "after the due time" in events
    staff_events = env.client.get(f"/api/v1/submissions/{sid}/events", headers=auth(env.ines)).text
    assert "wrong_answer" in staff_events

    board = env.client.get("/api/v1/leaderboard/tiny-add", headers=auth(s001)).json()["entries"]
    names = [e["user"] for e in board]
    assert "you" in names and "s002" not in names and any(n.startswith("anonymous-") for n in names)
    assert next(e for e in board if e["user"] == "you")["you"] is True
    assert env.client.get("/api/v1/leaderboard/tiny-add", headers=auth(env.ines)).json()["entries"][0]["user"] == "s002"

    with clock.shifted(D + H):  # past the due time: everything shows
        view = env.client.get(f"/api/v1/submissions/{sid}", headers=auth(s001)).json()
        assert [c["name"] for c in view["cases"]] == ["small", "hidden"] and view["verdict"] == "wrong_answer"
    env.client.patch("/api/v1/courses/llm/assignments/a1", json={"leaderboard": "off"}, headers=auth(env.ines))
    off = env.client.get("/api/v1/leaderboard/tiny-add", headers=auth(s001))
    assert off.status_code == 403 and "off" in off.json()["detail"]


def test_templates_are_instantiated_with_shifted_dates(env: Env) -> None:
    templates = {t["name"]: t for t in env.client.get("/api/v1/course-templates", headers=auth(env.ines)).json()}
    assert set(templates) >= {"nju-llm-2025", "happy-llm"}
    assert [a["slug"] for a in templates["nju-llm-2025"]["assignments"]] == ["a0", "a1", "a2", "a3", "a4", "a5"]
    start = datetime(2026, 9, 1, 8, tzinfo=UTC)
    missing = env.client.post("/api/v1/course-templates/nju-llm-2025/instantiate",
                              json={"slug": "nju", "start": start.isoformat()}, headers=auth(env.ines))
    assert missing.status_code == 404 and "manual-linear" in missing.json()["detail"]
    wanted = sorted({p["slug"] for t in templates.values() for a in t["assignments"] for p in a["problems"]})
    publish_bundled(env.session, tuple(wanted))
    r = env.client.post("/api/v1/course-templates/nju-llm-2025/instantiate",
                        json={"slug": "nju", "start": start.isoformat()}, headers=auth(env.ines))
    assert r.status_code == 201, r.text
    got = {a["slug"]: a for a in r.json()["assignments"]}
    assert datetime.fromisoformat(got["a0"]["release_at"]) == start
    assert datetime.fromisoformat(got["a5"]["release_at"]) == start + 77 * D
    assert [p["slug"] for p in got["a1"]["problems"]] == ["multi-head-matmul", "importance-matmul"]
    assert sum(p["points"] for p in got["a2"]["problems"]) == pytest.approx(100)
    r = env.client.post("/api/v1/course-templates/happy-llm/instantiate",
                        json={"slug": "happy", "start": (start + 30 * D).isoformat()}, headers=auth(env.ines))
    assert r.status_code == 201 and r.json()["late_days"] == 3
    again = env.client.post("/api/v1/course-templates/happy-llm/instantiate",
                            json={"slug": "happy", "start": start.isoformat()}, headers=auth(env.ines))
    assert again.status_code == 409


@pytest.mark.sandbox
@pytest.mark.slow
def test_an_assignment_graded_for_real_in_the_sandbox(env: Env) -> None:
    """The real grader (core.grading:grade in the process sandbox) through the service."""
    _course(env, n=2)
    _assignment(env, late_policy="per_hour", late_penalty_pct=10)
    s001, s002 = env.token_for("s001"), env.token_for("s002")
    good = _submit(env, s001, GOOD).json()["id"]
    _submit(env, s002, BAD)
    while env.dispatcher.jobs:
        job = env.dispatcher.jobs.pop(0)
        assert judging.run_job(env.settings, job.submission_id, job.job, "real-worker") is judging.Outcome.DONE
    assert env.client.get(f"/api/v1/submissions/{good}", headers=auth(s001)).json()["verdict"] == "accepted"
    rows = {r["user"]: r for r in env.client.get("/api/v1/courses/llm/assignments/a1/gradebook",
                                                  headers=auth(env.ines)).json()["rows"]}
    assert rows["s001"]["total"] == 10 and rows["s001"]["problems"][0]["submission_id"] == good
    assert rows["s002"]["total"] == 0 and rows["s002"]["problems"][0]["attempts"] == 1
    # The due time moves to before both submissions: the accepted one is now late (1 started hour).
    env.client.patch("/api/v1/courses/llm/assignments/a1", json={
        "release_at": (utcnow() - 2 * D).isoformat(), "due_at": (utcnow() - timedelta(minutes=30)).isoformat()},
        headers=auth(env.ines))
    rows = {r["user"]: r for r in env.client.get("/api/v1/courses/llm/assignments/a1/gradebook",
                                                  headers=auth(env.ines)).json()["rows"]}
    assert rows["s001"]["total"] == 9 and rows["s001"]["problems"][0]["late"] is True
    assert env.session.scalar(select(User.id).where(User.name == "s001")) is not None


def test_cli_runs_a_course(env: Env, tmp_path: Path) -> None:
    """create, update, roster, assignment create/update, extension (and its revoke), gradebook --csv,
    template instantiate."""
    runner = CliRunner()
    roster_file = tmp_path / "roster.csv"
    roster_file.write_bytes(roster_csv(3) + b",No Name,x@uni.example,A\n")
    due = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with serving(env) as url:
        common = ["--server", url, "--token", env.ines]

        def cli(*args: str) -> str:
            result = runner.invoke(cli_app, [*args, *common])
            assert result.exit_code == 0, result.output
            return result.output

        assert "course llm created" in cli("course", "create", "llm", "--title", "LLM")
        refused = runner.invoke(cli_app, ["course", "roster", "llm", str(roster_file), *common])
        assert refused.exit_code == 1 and "3 created" in refused.output and "no user name" in refused.output
        cli("course", "assignment", "create", "llm", "a1", "--release", (due - 7 * D).isoformat(),
            "--due", due.isoformat(), "--late-policy", "per_hour", "--penalty", "10", "-p", "tiny-add:20")
        cli("course", "extension", "llm", "a1", "s002", "--due", (due + D).isoformat())
        graded(env.session, "s001", "tiny-add", 3.0, due + 2 * H)
        graded(env.session, "s002", "tiny-add", 3.0, due + 2 * H)
        rows = {r["user"]: r for r in csv.DictReader(io.StringIO(cli("course", "gradebook", "llm", "a1", "--csv")))}
        assert (rows["s001"]["tiny-add"], rows["s002"]["tiny-add"], rows["s002"]["extension"]) == ("16", "20", "yes")
        cli("course", "assignment", "update", "llm", "a1", "--due", (due + 3 * H).isoformat())
        assert "s001                      20/20" in cli("course", "gradebook", "llm", "a1")
        # Revoked, s002's late submission (2 h past the original due) is judged by the course's due again.
        assert "extension revoked" in cli("course", "extension", "llm", "a1", "s002", "--revoke")
        cli("course", "assignment", "update", "llm", "a1", "--due", due.isoformat())
        rows = {r["user"]: r for r in csv.DictReader(io.StringIO(cli("course", "gradebook", "llm", "a1", "--csv")))}
        assert (rows["s002"]["tiny-add"], rows["s002"]["extension"]) == ("16", "")
        both = runner.invoke(cli_app, ["course", "extension", "llm", "a1", "s002", "--revoke", "--due", "2026-05-02",
                                       *common])
        assert both.exit_code == 2 and "either --due TIME or --revoke" in both.output
        assert "'LLM 2026', term 2026 spring, 2 late days" in cli(
            "course", "update", "llm", "--title", "LLM 2026", "--term", "2026 spring", "--late-days", "2")
        assert runner.invoke(cli_app, ["course", "update", "llm", *common]).exit_code == 2
        assert "nju-llm-2025" in cli("course", "template", "list")
        publish_bundled(env.session, ("happy-llm-attention", "happy-llm-layernorm", "happy-llm-mlp",
                                      "happy-llm-positional-encoding", "happy-llm-swiglu"))
        out = cli("course", "template", "instantiate", "happy-llm", "happy", "--start", "2026-10-05")
        assert "chapter5   release 2026-10-19T00:00:00Z" in out
