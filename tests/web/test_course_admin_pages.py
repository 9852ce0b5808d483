"""The course settings and extensions pages in real headless Chromium (the browser-test setup
of test_browser.py): an instructor renames the course and changes its late-day budget, reads
its sections, and revokes an extension after confirming (dismissing the dialog keeps it);
TAs see the extensions but not the settings, students get 403, outsiders 404; a roster invite
downloaded from the roster page is followed, sets a password, and that password signs in.
The app is real uvicorn on SQLite with the course made through the services."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from core.db.base import session_scope, utcnow
from core.db.models import Role
from core.services import courses, roster
from core.services import users as user_service
from core.services.courses import AssignmentFields
from tests.service.servers import app_in_thread

from .helpers import ThreadDispatcher, make_settings, seed
from .test_browser import CHROMIUM, chromium, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
ROSTER = (b"username,display_name,email,section,role\nalice,A,a@uni.example,s1,\nbob,B,b@uni.example,s2,\ntom,T,,,ta\n"
          b"nina,Nina N,nina@uni.example,s2,\n")  # nina: a new account, no password


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """Course 'ops' (alice, bob: students; tom: TA), assignment a1 with extensions for alice
    and bob, the app on a free port; yields the base URL and API tokens by user name."""
    settings = make_settings(tmp_path_factory.mktemp("course-admin") / "data", grader="tests.web.helpers:fake_grade")
    tokens = seed(settings, publish_bundled=False)
    now = utcnow()
    with session_scope(settings.effective_database_url) as session:
        ines = user_service.get_user_by_name(session, "ines")
        assert ines is not None
        for name in ("tom", "olga"):
            tokens[name] = user_service.issue_token(session, user_service.create_user(session, name, Role.STUDENT))
        course = courses.create_course(session, ines, "ops", "Ops course", term="2026", late_days=2)
        roster.import_roster(session, course, ines, ROSTER)
        a = courses.create_assignment(session, course, ines, AssignmentFields(
            slug="a1", title="A1", release_at=now - timedelta(days=1), due_at=now + timedelta(days=1),
            problems=[("web-scale", 10)]))
        for student in ("alice", "bob"):
            courses.grant_extension(session, a, ines, student, now + timedelta(days=4), "ill")
        session.commit()
    dispatcher = ThreadDispatcher(settings)
    try:
        with app_in_thread(create_app(settings, dispatcher)) as url:
            yield url, tokens
    finally:
        dispatcher.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from Debian's package."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    with chromium() as b:
        yield b


def _status(base: str, token: str, path: str) -> int:
    return httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False).status_code


def test_settings_and_extensions_pages_are_for_course_staff(app_server: tuple[str, dict[str, str]]) -> None:
    base, tokens = app_server
    assert _status(base, tokens["ines"], "/courses/ops/settings") == 200
    assert _status(base, tokens["tom"], "/courses/ops/extensions") == 200  # a TA
    assert _status(base, tokens["tom"], "/courses/ops/settings") == 403  # only instructors edit
    for path in ("/courses/ops/settings", "/courses/ops/extensions"):
        assert _status(base, tokens["alice"], path) == 403
        assert _status(base, tokens["olga"], path) == 404  # not in the course
    r = httpx.post(base + "/courses/ops/assignments/a1/extensions/bob/revoke",
                   headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert r.status_code == 403
    bad = httpx.post(base + "/courses/ops/settings", data={"title": "X", "late_days": "-1"},
                     headers={"Authorization": f"Bearer {tokens['ines']}"})
    assert bad.status_code == 400 and "late days" in bad.text


def test_instructor_edits_settings_and_revokes_an_extension(
    app_server: tuple[str, dict[str, str]], browser: object
) -> None:
    base = app_server[0]
    ines = sign_in(browser, base, "ines", "/courses/ops")
    ines.get_by_role("link", name="Settings").click()  # type: ignore[attr-defined]
    form = ines.get_by_role("form", name="Course settings")  # type: ignore[attr-defined]
    expect(form.get_by_label("Title")).to_have_value("Ops course")
    expect(ines.locator('table.sections tr[data-section="s1"]')).to_contain_text("1")  # type: ignore[attr-defined]
    form.get_by_label("Title").fill("Operations 2026")
    form.get_by_label(re.compile("Late days")).fill("5")
    form.get_by_role("button", name="Save settings").click()
    expect(ines.locator(".flash")).to_have_text("Course settings saved.")  # type: ignore[attr-defined]
    expect(form.get_by_label(re.compile("Late days"))).to_have_value("5")
    shot(ines, "course-07-settings")
    ines.goto("/courses/ops")  # type: ignore[attr-defined]
    expect(ines.get_by_role("heading", name="Operations 2026")).to_be_visible()  # type: ignore[attr-defined]
    expect(ines.locator("main")).to_contain_text("5 late days per student")  # type: ignore[attr-defined]

    ines.get_by_role("link", name="Extensions").click()  # type: ignore[attr-defined]
    rows = ines.locator("table.extensions tbody tr")  # type: ignore[attr-defined]
    expect(rows).to_have_count(2)
    # Dismissing the confirmation keeps the extension.
    ines.once("dialog", lambda d: d.dismiss())  # type: ignore[attr-defined]
    ines.get_by_role("button", name="Revoke alice's extension on A1").click()  # type: ignore[attr-defined]
    expect(rows).to_have_count(2)
    messages: list[str] = []

    def accept(dialog: object) -> None:
        messages.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept()  # type: ignore[attr-defined]

    ines.once("dialog", accept)  # type: ignore[attr-defined]
    ines.get_by_role("button", name="Revoke bob's extension on A1").click()  # type: ignore[attr-defined]
    expect(ines.locator(".flash")).to_have_text("Extension for bob on A1 revoked.")  # type: ignore[attr-defined]
    assert "Revoke bob's extension" in messages[0]
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-user", "alice")
    shot(ines, "course-08-extensions")

    # Bob is back on the assignment's due time; Alice keeps hers.
    bob = sign_in(browser, base, "bob", "/courses/ops/assignments/a1")
    expect(bob.locator("#my-due")).not_to_contain_text("extension")  # type: ignore[attr-defined]
    alice = sign_in(browser, base, "alice", "/courses/ops/assignments/a1")
    expect(alice.locator("#my-due")).to_contain_text("extension")  # type: ignore[attr-defined]

    # The assignment page revokes too, and comes back to itself.
    ines.goto("/courses/ops/assignments/a1")  # type: ignore[attr-defined]
    ines.once("dialog", lambda d: d.accept())  # type: ignore[attr-defined]
    ines.get_by_role("button", name="Revoke alice's extension on A1").click()  # type: ignore[attr-defined]
    expect(ines).to_have_url(re.compile(r"/courses/ops/assignments/a1\?flash="))
    expect(ines.locator("#extensions + ul")).to_contain_text("None.")  # type: ignore[attr-defined]


def test_a_roster_invite_sets_a_password_that_then_signs_in(
    app_server: tuple[str, dict[str, str]], browser: object
) -> None:
    base = app_server[0]
    ines = sign_in(browser, base, "ines", "/courses/ops/roster")
    expect(ines.locator('tr[data-user="nina"] .sign-in')).to_have_text("no password")  # type: ignore[attr-defined]
    ines.once("dialog", lambda d: d.accept())  # type: ignore[attr-defined]
    with ines.expect_download() as download:  # type: ignore[attr-defined]
        ines.get_by_role("button", name="Download invites CSV").click()  # type: ignore[attr-defined]
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))}
    assert set(rows) == {"nina"} and rows["nina"]["email"] == "nina@uni.example"  # the others have passwords
    link = rows["nina"]["link"]
    assert link.startswith(base + "/invite/")
    ines.reload()  # type: ignore[attr-defined]
    expect(ines.locator('tr[data-user="nina"] .sign-in')).to_contain_text("invited")  # type: ignore[attr-defined]

    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    nina = context.new_page()
    nina.goto(link)
    expect(nina.locator("#invite-user")).to_have_text("nina")
    nina.get_by_label("New password").fill("nina-secret-1")
    nina.get_by_label("The same password again").fill("nina-secret-2")
    nina.get_by_role("button", name="Set password and sign in").click()
    expect(nina.locator("#invite-error")).to_contain_text("not the same")
    nina.get_by_label("New password").fill("nina-secret-1")
    nina.get_by_label("The same password again").fill("nina-secret-1")
    nina.get_by_role("button", name="Set password and sign in").click()
    expect(nina).to_have_url(re.compile(r"/courses\?flash="))
    expect(nina.locator(".flash")).to_contain_text("Welcome, nina")
    expect(nina.locator('main a[href="/courses/ops"]')).to_be_visible()  # her course, whatever its title
    shot(nina, "course-09-invite-signed-in")
    nina.goto(link)  # used up
    expect(nina.locator("main")).to_contain_text("already been used")
    context.close()

    # The new password signs in through the ordinary form.
    fresh = browser.new_context(base_url=base)  # type: ignore[attr-defined]
    login = fresh.new_page()
    login.goto("/courses/ops")
    login.get_by_label("User name").fill("nina")
    login.get_by_label("Password").fill("nina-secret-1")
    login.get_by_role("button", name="Sign in").click()
    expect(login).to_have_url(re.compile(r"/courses/ops$"))
    expect(login.get_by_role("link", name="A1")).to_be_visible()
    fresh.close()
