"""Roster invites on a real Postgres: the service (hashed at rest, single use, expiry on the
injectable clock, re-issuing revokes the older link, students with a password skipped, the
password rules), the API (JSON and CSV, instructors only, the invite page signs the student
in) and `tensorjudge course invites --out` against a real server."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app as cli_app
from core import clock
from core.db.base import session_factory
from core.db.course_models import Course, Invite
from core.db.models import Role, User
from core.services import invites, roster
from core.services import users as user_service
from core.services.courses import create_course
from core.services.errors import AuthError, ConflictError, ForbiddenError
from core.settings import Settings

from .helpers import RecordingDispatcher, auth, make_settings
from .servers import app_in_thread

pytestmark = pytest.mark.postgres

DAYS = timedelta(days=14)
ROSTER = (b"username,display_name,email,section\n"
          b"s001,Student One,s001@uni.example,A\ns002,Student Two,s002@uni.example,A\n"
          b"s003,Student Three,s003@uni.example,B\npat,Pat Has Password,pat@uni.example,B\n")


@dataclass
class Env:
    """A course 'llm' (s001-s003 roster-created, pat with a password), its instructor, the app."""

    session: Session
    client: TestClient
    settings: Settings
    course: Course
    ines: User
    ines_token: str

    def user(self, name: str) -> User:
        """A user, fresh from the database."""
        found = user_service.get_user_by_name(self.session, name)
        assert found is not None
        self.session.refresh(found)
        return found


@pytest.fixture
def env(clean_postgres: str, tmp_path: Path) -> Iterator[Env]:
    """The course and the app on the emptied Postgres."""
    settings = make_settings(tmp_path / "data", database_url=clean_postgres)
    settings.data_dir.mkdir(parents=True)
    session = session_factory(clean_postgres)()
    ines = user_service.create_user(session, "ines", Role.INSTRUCTOR, "ines-password")
    user_service.create_user(session, "pat", Role.STUDENT, "pat-password")
    course = create_course(session, ines, "llm", "LLM course")
    assert [r.action for r in roster.import_roster(session, course, ines, ROSTER)] == ["created"] * 4
    token = user_service.issue_token(session, ines)
    session.commit()
    with TestClient(create_app(settings, RecordingDispatcher()), raise_server_exceptions=False,
                    follow_redirects=False) as client:
        yield Env(session, client, settings, course, ines, token)
    clock.set_source(None)
    session.rollback()
    session.close()


def test_invites_are_hashed_single_use_and_skip_users_with_a_password(env: Env) -> None:
    issued, skipped = invites.issue(env.session, env.course, env.ines, DAYS)
    env.session.commit()
    assert [i.user for i in issued] == ["s001", "s002", "s003"]
    assert [(s.user, s.reason) for s in skipped] == [("pat", "already has a password")]
    assert issued[0].name == "Student One" and issued[0].email == "s001@uni.example"
    # Hashed at rest: the row holds the SHA-256, the token itself is nowhere in the table.
    rows = list(env.session.scalars(select(Invite).order_by(Invite.id)))
    assert [r.token_hash for r in rows] == [hashlib.sha256(i.token.encode()).hexdigest() for i in issued]
    for row, i in zip(rows, issued, strict=True):
        assert i.token not in " ".join(str(v) for v in vars(row).values())
    assert len({i.token for i in issued}) == 3 and all(len(i.token) >= 40 for i in issued)

    user, session_token = invites.accept(env.session, issued[0].token, "a-new-password", "a-new-password")
    env.session.commit()
    assert user.name == "s001" and user_service.user_for_token(env.session, session_token).name == "s001"  # type: ignore[union-attr]
    assert user_service.login(env.session, "s001", "a-new-password")
    with pytest.raises(invites.InviteError, match="already been used"):
        invites.accept(env.session, issued[0].token, "another-password")
    with pytest.raises(AuthError):
        user_service.login(env.session, "s001", "another-password")
    with pytest.raises(invites.InviteError, match="not valid"):
        invites.find(env.session, issued[0].token[:-2])
    # s001 has a password now: a new round skips them too.
    again, skipped = invites.issue(env.session, env.course, env.ines, DAYS)
    assert [i.user for i in again] == ["s002", "s003"] and {s.user for s in skipped} == {"s001", "pat"}


def test_invites_expire_and_reissuing_revokes_the_older_one(env: Env) -> None:
    with clock.frozen(clock.now()):
        start = clock.now()
        (first,), _ = invites.issue(env.session, env.course, env.ines, DAYS, ["s002"])
        env.session.commit()
        assert first.expires_at == start + DAYS
    with clock.shifted(DAYS - timedelta(minutes=1)):
        assert invites.find(env.session, first.token).user.name == "s002"
    with clock.shifted(DAYS + timedelta(seconds=1)):
        with pytest.raises(invites.InviteError, match="expired"):
            invites.accept(env.session, first.token, "a-new-password")
    assert env.user("s002").password_hash is None

    (second,), _ = invites.issue(env.session, env.course, env.ines, DAYS, ["s002"])
    env.session.commit()
    with pytest.raises(invites.InviteError, match="replaced by a newer one"):
        invites.find(env.session, first.token)
    # The password rules hold, and a refused password leaves the link usable.
    with pytest.raises(ConflictError, match="too short"):
        invites.accept(env.session, second.token, "short")
    env.session.rollback()
    with pytest.raises(ConflictError, match="not the same"):
        invites.accept(env.session, second.token, "a-new-password", "a-new-passw0rd")
    env.session.rollback()
    invites.accept(env.session, second.token, "a-new-password")
    env.session.commit()
    assert env.user("s002").password_hash

    # Named users outside the course's students are skipped; students may not invite.
    issued, skipped = invites.issue(env.session, env.course, env.ines, DAYS, ["s003", "nobody", "ines"])
    assert [i.user for i in issued] == ["s003"]
    assert [s.user for s in skipped] == ["nobody", "ines"] and "not a student" in skipped[0].reason
    with pytest.raises(ForbiddenError):
        invites.issue(env.session, env.course, env.user("pat"), DAYS)


def test_api_csv_and_the_invite_page_sign_the_student_in(env: Env) -> None:
    r = env.client.post("/api/v1/courses/llm/invites", json={"users": ["s001", "pat"]}, headers=auth(env.ines_token))
    assert r.status_code == 201, r.text
    body = r.json()
    assert [i["user"] for i in body["invites"]] == ["s001"] and body["skipped"][0]["user"] == "pat"
    assert body["invites"][0]["link"].startswith("http://testserver/invite/")
    r = env.client.post("/api/v1/courses/llm/invites.csv", headers=auth(env.ines_token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["user", "name", "email", "link"] and [x["user"] for x in rows] == ["s001", "s002", "s003"]
    pat = user_service.issue_token(env.session, env.user("pat"))
    env.session.commit()
    assert env.client.post("/api/v1/courses/llm/invites", headers=auth(pat)).status_code == 403
    bad = env.client.post("/api/v1/courses/llm/invites", json={"users": "s001"}, headers=auth(env.ines_token))
    assert bad.status_code == 422

    # The API's first s001 link was replaced by the CSV's; the CSV's link works once.
    old = env.client.get(body["invites"][0]["link"].removeprefix("http://testserver"))
    assert old.status_code == 404 and "replaced" in old.text
    path = rows[0]["link"].removeprefix("http://testserver")
    form = env.client.get(path)
    assert form.status_code == 200 and 'id="invite-user">s001<' in form.text
    short = env.client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "too short" in short.text
    done = env.client.post(path, data={"password": "s001-password", "confirm": "s001-password"})
    assert done.status_code == 303 and done.headers["location"].startswith("/courses")
    cookie = done.cookies.get("tensorjudge_token")
    assert cookie and user_service.user_for_token(env.session, cookie).name == "s001"  # type: ignore[union-attr]
    login = env.client.post("/api/v1/auth/login", json={"name": "s001", "password": "s001-password"})
    assert login.status_code == 200, login.text
    used = env.client.get(path)
    assert used.status_code == 404 and "already been used" in used.text and str(env.settings.data_dir) not in used.text


@pytest.fixture
def served(env: Env) -> Iterator[str]:
    """The env's app on a free port (uvicorn in a thread), for the CLI; yields its URL."""
    with app_in_thread(create_app(env.settings, RecordingDispatcher())) as url:
        yield url


def test_cli_writes_the_invites_csv(env: Env, served: str, tmp_path: Path) -> None:
    out = tmp_path / "invites.csv"
    result = CliRunner().invoke(cli_app, ["courses", "invites", "llm", "--out", str(out),
                                          "--server", served, "--token", env.ines_token])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == ["user", "name", "email", "link"]
    assert [(r["user"], r["name"], r["email"]) for r in rows] == [
        ("s001", "Student One", "s001@uni.example"), ("s002", "Student Two", "s002@uni.example"),
        ("s003", "Student Three", "s003@uni.example")]
    assert all(r["link"].startswith(f"{served}/invite/") for r in rows)
    assert "3 invites written" in result.output and "skipped pat: already has a password" in result.output
    token = rows[1]["link"].rsplit("/", 1)[1]
    assert invites.find(env.session, token).user.name == "s002"
    # One named student, printed to stdout; a student may not.
    one = CliRunner().invoke(cli_app, ["course", "invites", "llm", "-u", "s003", "--server", served,
                                       "--token", env.ines_token])
    assert one.exit_code == 0 and one.output.count("/invite/") == 1 and "s003,Student Three" in one.output
    pat = user_service.issue_token(env.session, env.user("pat"))
    env.session.commit()
    refused = CliRunner().invoke(cli_app, ["course", "invites", "llm", "--server", served, "--token", pat])
    assert refused.exit_code == 2 and "403" in refused.output
