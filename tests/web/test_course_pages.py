"""The course pages in real headless Chromium (the browser-test setup of test_browser.py): an
instructor creates a course, imports a roster CSV and reads the per-row report, creates and
edits an assignment, grants an extension and downloads the gradebook CSV; students see due
dates, the extension, scores and late marks; the (n+1)-th submission in a day shows the
quota message. Grading uses the fast fake grader in a worker thread (the sandbox is tested
in test_browser.py); the app is real uvicorn on SQLite."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from api.main import create_app
from core.db.base import utcnow
from tests.service.servers import app_in_thread

from .helpers import ThreadDispatcher, make_settings, seed
from .test_browser import CHROMIUM, chromium, set_editor, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
ACCEPTED = "import torch\n\n\ndef scale(x, alpha):\n    return x * alpha\n"
ROSTER = ("username,display_name,email,section\n"
          "alice,Alice A,alice@uni.example,s1\n"
          "bob,Bob B,bob@uni.example,s2\n"
          "carol,Carol C,carol@uni.example,s1\n"
          "bad name,Bad,bad@uni.example,s1\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a free port with the fake grader in a worker thread; yields the base URL."""
    root = tmp_path_factory.mktemp("course-pages")
    settings = make_settings(root / "data", grader="tests.web.helpers:fake_grade")
    seed(settings, publish_bundled=False)
    dispatcher = ThreadDispatcher(settings)
    try:
        with app_in_thread(create_app(settings, dispatcher)) as url:
            yield url
    finally:
        dispatcher.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium from Debian's package."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    with chromium() as b:
        yield b


def _local(t: object) -> str:
    return t.strftime("%Y-%m-%dT%H:%M")  # type: ignore[attr-defined]


def test_instructor_sets_up_a_course_and_students_see_scores_late_marks_and_quota(
    server: str, browser: object, tmp_path: Path
) -> None:
    ines = sign_in(browser, server, "ines", "/courses")
    ines.get_by_label("Short name").fill("llm")  # type: ignore[attr-defined]
    ines.get_by_label("Title").fill("LLM course")  # type: ignore[attr-defined]
    ines.get_by_role("button", name="Create course").click()  # type: ignore[attr-defined]
    expect(ines).to_have_url(re.compile(r"/courses/llm\?flash="))
    expect(ines.get_by_role("heading", name="LLM course")).to_be_visible()  # type: ignore[attr-defined]

    # Roster: upload a CSV, read the per-row report.
    ines.get_by_role("link", name="Roster").click()  # type: ignore[attr-defined]
    ines.get_by_label(re.compile("Roster CSV")).set_input_files(  # type: ignore[attr-defined]
        files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": ROSTER.encode()}])
    ines.get_by_role("button", name="Import roster").click()  # type: ignore[attr-defined]
    expect(ines.locator("#report-counts")).to_contain_text("3 created")  # type: ignore[attr-defined]
    expect(ines.locator("#report-counts")).to_contain_text("1 refused")  # type: ignore[attr-defined]
    refused = ines.locator('table.roster-report tr[data-line="5"]')  # type: ignore[attr-defined]
    expect(refused.locator(".action")).to_have_text("refused")
    expect(refused).to_contain_text("bad user name")
    expect(ines.locator("table.members tbody tr")).to_have_count(4)  # type: ignore[attr-defined]
    shot(ines, "course-01-roster-report")

    # Assignment editor: one problem, due tomorrow, 10% per day late, one submission a day.
    now = utcnow()
    ines.goto("/courses/llm")  # type: ignore[attr-defined]
    editor = ines.get_by_role("form", name="Assignment editor")  # type: ignore[attr-defined]
    editor.get_by_label("Short name").fill("a1")
    editor.get_by_label("Title").fill("A1 Scaling")
    editor.get_by_label("Release (UTC)").fill(_local(now - timedelta(days=2)))
    editor.get_by_label("Due (UTC)").fill(_local(now + timedelta(days=1)))
    editor.get_by_label("Late policy").select_option("per_day")
    editor.get_by_label(re.compile("Penalty")).fill("10")
    editor.get_by_label(re.compile("per 24 h")).fill("1")
    editor.get_by_label(re.compile("Problems")).fill("web-scale:10")
    editor.get_by_role("button", name="Create assignment").click()
    expect(ines).to_have_url(re.compile(r"/courses/llm/assignments/a1"))
    grant = ines.get_by_role("form", name="Grant an extension")  # type: ignore[attr-defined]
    grant.get_by_label("Student").fill("bob")
    grant.get_by_label(re.compile("Their due time")).fill(_local(now + timedelta(days=5)))
    grant.get_by_role("button", name="Grant extension").click()
    expect(ines.locator("#extensions + ul")).to_contain_text("bob: due")  # type: ignore[attr-defined]
    shot(ines, "course-02-assignment-editor")

    # Alice submits (accepted), then her second submission of the day is refused with the time.
    alice = sign_in(browser, server, "alice", "/problems/web-scale")
    set_editor(alice, ACCEPTED)  # the CodeMirror editor (issue 16)
    alice.get_by_role("button", name="Submit solution").click()  # type: ignore[attr-defined]
    expect(alice).to_have_url(re.compile(r"/submissions/\d+$"))
    expect(alice.locator("#overall-verdict")).to_have_text("Accepted", timeout=60_000)  # type: ignore[attr-defined]
    alice.goto("/problems/web-scale")  # type: ignore[attr-defined]
    set_editor(alice, ACCEPTED)  # the CodeMirror editor (issue 16)
    alice.get_by_role("button", name="Submit solution").click()  # type: ignore[attr-defined]
    expect(alice.locator("main")).to_contain_text("1 submissions per 24 hours")  # type: ignore[attr-defined]
    expect(alice.locator("main")).to_contain_text("the next one is allowed at")  # type: ignore[attr-defined]
    shot(alice, "course-03-quota-refused")

    alice.goto("/courses/llm")  # type: ignore[attr-defined]
    row = alice.locator('tr[data-assignment="a1"]')  # type: ignore[attr-defined]
    expect(row.locator(".score")).to_have_text("10 / 10")
    expect(row.locator("td.late-mark")).to_have_text("")

    # The instructor moves the due time to before Alice's submission: she is now late, -10%.
    ines.goto("/courses/llm/assignments/a1")  # type: ignore[attr-defined]
    edit = ines.get_by_role("form", name="Assignment editor")  # type: ignore[attr-defined]
    edit.get_by_label("Due (UTC)").fill(_local(now - timedelta(hours=1)))
    edit.get_by_role("button", name="Save assignment").click()
    expect(ines.locator(".flash")).to_have_text("Assignment saved.")  # type: ignore[attr-defined]

    alice.goto("/courses/llm")  # type: ignore[attr-defined]
    expect(row.locator(".score")).to_have_text("9 / 10")
    expect(row.locator("td.late-mark")).to_have_text("late")
    alice.get_by_role("link", name="A1 Scaling").click()  # type: ignore[attr-defined]
    expect(alice.locator('tr[data-problem="web-scale"] .lateness')).to_contain_text("-10%")  # type: ignore[attr-defined]
    expect(alice.locator("#my-total")).to_have_text("9 / 10")  # type: ignore[attr-defined]
    shot(alice, "course-04-student-assignment-late")

    bob = sign_in(browser, server, "bob", "/courses/llm/assignments/a1")
    expect(bob.locator("#my-due")).to_contain_text("extension")  # type: ignore[attr-defined]

    # The gradebook and its CSV download.
    ines.get_by_role("link", name="Gradebook").click()  # type: ignore[attr-defined]
    cell = ines.locator('tr[data-user="alice"] td[data-problem="web-scale"]')  # type: ignore[attr-defined]
    expect(cell).to_contain_text("9")
    expect(cell.locator(".badge.late")).to_be_visible()
    expect(ines.locator('tr[data-user="bob"]')).to_contain_text("extension")  # type: ignore[attr-defined]
    shot(ines, "course-05-gradebook")
    with ines.expect_download() as download:  # type: ignore[attr-defined]
        ines.get_by_role("link", name="Download CSV").click()  # type: ignore[attr-defined]
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))}
    assert rows["alice"]["web-scale"] == "9" and rows["alice"]["web-scale_penalty_pct"] == "10"
    assert rows["bob"]["extension"] == "yes" and rows["carol"]["total"] == "0"

    # Leaderboard policy "anonymous": Bob sees Alice under the same pseudonym on the problem's
    # board and on the overall board; Alice sees "you"; the instructor sees the real name.
    ines.goto("/courses/llm/assignments/a1")  # type: ignore[attr-defined]
    edit = ines.get_by_role("form", name="Assignment editor")  # type: ignore[attr-defined]
    edit.get_by_label("Leaderboard", exact=True).select_option("anonymous")
    edit.get_by_role("button", name="Save assignment").click()
    expect(ines.locator(".flash")).to_have_text("Assignment saved.")  # type: ignore[attr-defined]
    bob.goto("/problems/web-scale/leaderboard")  # type: ignore[attr-defined]
    alias = bob.locator("table.leaderboard tbody tr").first.locator("th")  # type: ignore[attr-defined]
    expect(alias).to_have_text(re.compile(r"^anonymous-[0-9a-f]{6}$"))
    expect(bob.locator("table.leaderboard")).not_to_contain_text("alice")  # type: ignore[attr-defined]
    name = alias.inner_text()
    bob.goto("/leaderboard")  # type: ignore[attr-defined]
    expect(bob.locator("table.leaderboard tbody tr").first.locator("th")).to_have_text(name)  # type: ignore[attr-defined]
    expect(bob.locator("table.leaderboard")).not_to_contain_text("alice")  # type: ignore[attr-defined]
    shot(bob, "course-06-anonymous-leaderboard")
    alice.goto("/problems/web-scale/leaderboard")  # type: ignore[attr-defined]
    expect(alice.locator("table.leaderboard tr.me th")).to_contain_text("you")  # type: ignore[attr-defined]
    ines.goto("/problems/web-scale/leaderboard")  # type: ignore[attr-defined]
    expect(ines.locator("table.leaderboard tbody tr").first.locator("th")).to_have_text("alice")  # type: ignore[attr-defined]
