"""End to end in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The app runs for real: uvicorn on a free 127.0.0.1 port, a SQLite database in a temp data
dir, the embedded broker and a real Celery worker process that grades and validates with the
real pipeline in the bubblewrap sandbox.
The tests run in order and share the server: sign in, submit, watch live progress turn into
verdicts, the leaderboard, then an instructor uploads, validates and publishes a package.
Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.dispatch import CeleryDispatcher
from api.main import create_app
from core.settings import REPO_ROOT
from tests.service.servers import app_in_thread
from tests.service.workers import kill_group, start_worker

from .helpers import PASSWORDS, WEB_SCALE, make_settings, seed

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
GRADE_TIMEOUT_MS = 180_000

# Wrong in one corner of every output (a heat map with one hot region); the hidden case
# sleeps so that the page has time to show "case 2 of 3" while it runs.
WRONG = """import time
import torch


def scale(x, alpha):
    if x.shape[0] == 5:
        time.sleep(3)
    y = x * alpha
    y[-3:, -4:] += 1.0
    return y
"""
ACCEPTED = "import torch\n\n\ndef scale(x, alpha):\n    return x * alpha\n"

if not CHROMIUM.exists():  # the Makefile installs it; skip cleanly where it is missing
    pytest.skip("/usr/bin/chromium is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a free port with a real `celery worker` process on the embedded broker
    (it grades and validates, as under `tensorjudge serve`); yields the base URL."""
    root = tmp_path_factory.mktemp("web-browser")
    settings = make_settings(root / "data")
    seed(settings, publish_bundled=True)
    worker = start_worker(settings, "browser-worker", root / "worker.log")
    try:
        with app_in_thread(create_app(settings, CeleryDispatcher(settings))) as url:
            yield url
    finally:
        kill_group(worker)


@contextmanager
def chromium() -> Iterator[object]:
    """Headless Chromium from Debian's package."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium, one per test module."""
    with chromium() as b:
        yield b


def shot(page: object, name: str) -> None:
    """Save a full-page screenshot as a test artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(browser: object, base: str, name: str, next_path: str = "/") -> object:
    """A fresh browser context signed in through the form; returns its page."""
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(next_path)
    sync_api.expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))
    return page


def set_editor(page: object, text: str) -> None:
    """Replace the code in the problem page's editor (the active CodeMirror tab)."""
    editor = page.locator(".editor-file:not([hidden]) .CodeMirror")  # type: ignore[attr-defined]
    sync_api.expect(editor).to_be_visible()
    editor.evaluate("(el, text) => el.CodeMirror.setValue(text)", text)


def test_student_signs_in_and_browses_problems(server: str, browser: object) -> None:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/")
    sync_api.expect(page).to_have_url(re.compile(r"/login\?next=/"))
    shot(page, "01-sign-in")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")
    page.get_by_label("Password").fill(PASSWORDS["alice"])
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("heading", name="Problems")).to_be_visible()
    row = page.locator('tr[data-slug="web-scale"]')
    sync_api.expect(row.locator(".status")).to_have_text("new")
    shot(page, "02-problem-list")

    page.get_by_role("link", name="Multi-head matmul").first.click()
    sync_api.expect(page.locator(".statement math").first).to_be_attached()
    assert page.locator(".statement math").count() > 5
    assert page.locator(".statement code.math-src").count() == 0
    sync_api.expect(page.get_by_role("link", name=re.compile("Download"))).to_be_visible()
    shot(page, "03-problem-bundled-multi-head-matmul")

    # The skip link is the first thing the keyboard reaches.
    page.keyboard.press("Tab")
    sync_api.expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    context.close()


def test_submit_shows_live_progress_then_verdicts(server: str, browser: object) -> None:
    page = sign_in(browser, server, "alice", "/problems/web-scale")
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.get_by_role("link", name=re.compile("Download solution.py")).click()
    assert "def scale" in Path(download.value.path()).read_text()
    shot(page, "04-problem-web-scale")

    set_editor(page, WRONG)
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page).to_have_url(re.compile(r"/submissions/\d+$"))
    sync_api.expect(page.locator("#grading-progress")).to_be_attached()
    # Live progress: the page shows "case k of n" without a reload while the hidden case runs.
    sync_api.expect(page.locator(".status-line")).to_contain_text(re.compile(r"case \d of 3"), timeout=GRADE_TIMEOUT_MS)
    shot(page, "05-submission-live-progress")
    sync_api.expect(page.locator("#overall-verdict")).to_have_text("Wrong answer", timeout=GRADE_TIMEOUT_MS)
    small = page.locator('tr[data-case="small"]')
    sync_api.expect(small.locator(".verdict")).to_have_text("Wrong answer")
    sync_api.expect(small).to_contain_text("first mismatching indices")
    sync_api.expect(small.locator("svg.heatmap")).to_be_visible()
    sync_api.expect(page.locator('tr[data-case="hidden"]')).to_contain_text("Hidden case")
    shot(page, "06-submission-wrong-answer-heatmap")

    # Second try: upload a file instead of pasting.
    page.goto("/problems/web-scale")
    page.get_by_label(re.compile("upload files")).set_input_files(
        files=[{"name": "solution.py", "mimeType": "text/x-python", "buffer": ACCEPTED.encode()}]
    )
    page.get_by_role("button", name="Submit solution").click()
    sync_api.expect(page.locator("#overall-verdict")).to_have_text("Accepted", timeout=GRADE_TIMEOUT_MS)
    sync_api.expect(page.locator(".overall .speed")).to_contain_text("×")
    shot(page, "07-submission-accepted")

    page.goto("/submissions")
    sync_api.expect(page.locator("table.submissions tbody tr")).to_have_count(2)
    shot(page, "08-my-submissions")
    page.goto("/")
    sync_api.expect(page.locator('tr[data-slug="web-scale"] .status')).to_have_text("solved")
    page.context.close()


def test_leaderboards(server: str, browser: object) -> None:
    page = sign_in(browser, server, "bob", "/problems/web-scale/leaderboard")
    first = page.locator("table.leaderboard tbody tr").first
    sync_api.expect(first).to_contain_text("alice")
    sync_api.expect(first).to_contain_text("4 / 4")
    sync_api.expect(page.locator("svg.histogram")).to_be_visible()
    assert page.locator("svg.histogram rect.bar").count() == 10
    shot(page, "09-leaderboard-problem")
    page.get_by_role("link", name="Leaderboard", exact=True).click()
    sync_api.expect(page.get_by_role("heading", name="Overall leaderboard")).to_be_visible()
    sync_api.expect(page.locator("table.leaderboard tbody tr").first).to_contain_text("alice")
    shot(page, "10-leaderboard-overall")
    # A student gets a clear error page for the instructor area.
    response = page.goto("/instructor")
    assert response is not None and response.status == 403
    sync_api.expect(page.get_by_role("heading", name=re.compile("403"))).to_be_visible()
    shot(page, "11-error-403")
    page.context.close()


def _package_zip(slug: str, title: str) -> bytes:
    """The web-scale fixture as a zip under another slug and title."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(WEB_SCALE.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(WEB_SCALE).as_posix()
            data = path.read_bytes()
            if rel == "problem.toml":
                data = data.replace(b'slug = "web-scale"', f'slug = "{slug}"'.encode())
                data = re.sub(rb'title = "[^"]*"', f'title = "{title}"'.encode(), data, count=1)
            zf.writestr(f"{slug}/{rel}", data)
    return buf.getvalue()


def test_instructor_uploads_validates_and_publishes(server: str, browser: object) -> None:
    page = sign_in(browser, server, "ines", "/instructor")
    shot(page, "12-instructor-dashboard")
    page.get_by_label(re.compile("Package")).set_input_files(
        files=[
            {
                "name": "scale-again.zip",
                "mimeType": "application/zip",
                "buffer": _package_zip("scale-again", "Scale again"),
            }
        ]
    )
    page.get_by_role("button", name="Upload and validate").click()
    sync_api.expect(page).to_have_url(re.compile(r"/instructor/problems/scale-again\?"))
    sync_api.expect(page.locator("#report section[data-state]")).to_have_attribute("data-state", "pending")
    sync_api.expect(page.locator("#report")).to_contain_text("Validating")
    shot(page, "13-instructor-validating")
    result = page.locator("#validation-result")
    sync_api.expect(result).to_be_visible(timeout=GRADE_TIMEOUT_MS * 2)
    if result.inner_text() != "Valid":
        shot(page, "14-instructor-validation-report")
        pytest.fail("validation failed: " + page.locator("#report .errors").inner_text())
    matrix = page.locator("table.matrix tbody tr")
    sync_api.expect(matrix).to_have_count(2)
    sync_api.expect(page.locator("#report")).to_contain_text("tolerance margin")
    shot(page, "14-instructor-validation-report")

    page.get_by_role("button", name=re.compile("Publish version")).click()
    sync_api.expect(page.locator(".flash")).to_contain_text("published")
    sync_api.expect(page.locator("#report")).to_contain_text("This version is live")

    page.goto("/instructor/submissions?problem=web-scale")
    sync_api.expect(page.locator("table.submissions tbody tr")).to_have_count(2)
    page.get_by_label("Verdict").select_option("accepted")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(page.locator("table.submissions tbody tr")).to_have_count(1)
    shot(page, "15-instructor-submissions")
    page.context.close()

    student = sign_in(browser, server, "bob", "/")
    sync_api.expect(student.locator('tr[data-slug="scale-again"]')).to_contain_text("Scale again")
    student.context.close()


def test_admin_manages_roles(server: str, browser: object) -> None:
    page = sign_in(browser, server, "ada", "/admin/users")
    page.get_by_label("Name", exact=True).fill("carol")
    page.get_by_label("Role", exact=True).select_option("student")
    page.get_by_role("button", name="Add user").click()
    sync_api.expect(page.locator("#new-token")).to_contain_text("tj_")
    page.get_by_label("Role of carol").select_option("instructor")
    page.get_by_role("button", name="Save carol").click()
    sync_api.expect(page.locator(".flash")).to_contain_text("carol: instructor")
    shot(page, "16-admin-users")
    page.context.close()
