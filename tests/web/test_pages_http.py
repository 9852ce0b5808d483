"""The pages over plain HTTP (TestClient): status codes, roles, content, exports."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.errors import ProblemError
from core.services.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyAttemptsError,
)
from core.settings import Settings

from .helpers import PASSWORDS, ThreadDispatcher

ACCEPTED = b"import torch\n\ndef scale(x, alpha):\n    return x * alpha\n"
WRONG = b"import torch\n\ndef scale(x, alpha):\n    return x + alpha\n"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def submit(client: TestClient, token: str, source: bytes, slug: str = "web-scale") -> int:
    """Submit through the page form (bearer auth needs no CSRF token); returns the id."""
    r = client.post(
        f"/problems/{slug}/submit",
        headers=bearer(token),
        files={"files": ("solution.py", source, "text/x-python")},
    )
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/")[-1].split("?")[0])


def wait_done(client: TestClient, token: str, sid: int, timeout_s: float = 30) -> dict:
    """Poll the JSON API until the submission is finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = client.get(f"/api/v1/submissions/{sid}", headers=bearer(token)).json()
        if data["status"] in ("done", "failed"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"submission {sid} did not finish")


def test_student_pages_answer_200(web_client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    sid = submit(web_client, tokens["alice"], WRONG)
    wait_done(web_client, tokens["alice"], sid)
    for path in (
        "/",
        "/problems/web-scale",
        "/problems/web-scale/leaderboard",
        f"/submissions/{sid}",
        "/problems/multi-head-matmul",
        "/leaderboard",
        "/submissions",
    ):
        r = web_client.get(path, headers=h)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert '<html lang="en">' in r.text and 'href="#main"' in r.text


def test_problem_page_renders_math_limits_cases_and_starter(web_client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    page = web_client.get("/problems/multi-head-matmul", headers=h).text
    assert "<math" in page and "$" not in page.split('class="statement"')[1].split("</section>")[0]
    assert "time limit" in page and "Public test cases" in page
    # Tolerances are shown; internals (module path, version hash, tmp size) are not.
    assert "atol" in page.split("Public test cases")[1] and "tmp (MB)" not in page and "version <code>" not in page
    starter = web_client.get("/problems/web-scale/starter", headers=h)
    assert starter.status_code == 200 and "def scale" in starter.text
    assert "attachment" in starter.headers["content-disposition"]


def test_problem_list_shows_my_status(web_client: TestClient, tokens: dict[str, str]) -> None:
    alice = tokens["alice"]
    before = web_client.get("/", headers=bearer(alice)).text
    assert 'data-slug="web-scale"' in before and "status-new" in before
    wait_done(web_client, alice, submit(web_client, alice, WRONG))
    row = web_client.get("/", headers=bearer(alice)).text.split('data-slug="web-scale"')[1].split("</tr>")[0]
    assert "attempted" in row
    wait_done(web_client, alice, submit(web_client, alice, ACCEPTED))
    row = web_client.get("/", headers=bearer(alice)).text.split('data-slug="web-scale"')[1].split("</tr>")[0]
    assert "solved" in row


def test_submission_page_shows_feedback_and_heatmap(web_client: TestClient, tokens: dict[str, str]) -> None:
    alice = tokens["alice"]
    sid = submit(web_client, alice, WRONG)
    wait_done(web_client, alice, sid)
    page = web_client.get(f"/submissions/{sid}", headers=bearer(alice)).text
    assert "Wrong answer" in page and "first mismatching indices" in page
    assert '<svg class="heatmap"' in page and "max abs error" in page
    assert "Hidden case: details are not shown" in page
    live = web_client.get(f"/submissions/{sid}/live", headers=bearer(alice)).text
    assert 'data-status="done"' in live


def test_students_cannot_see_others_submissions(web_client: TestClient, tokens: dict[str, str]) -> None:
    sid = submit(web_client, tokens["alice"], WRONG)
    r = web_client.get(f"/submissions/{sid}", headers=bearer(tokens["bob"]))
    assert r.status_code == 404 and "Not found" in r.text


def test_instructor_pages_by_role(web_client: TestClient, tokens: dict[str, str]) -> None:
    assert web_client.get("/instructor", headers=bearer(tokens["ines"])).status_code == 200
    assert web_client.get("/instructor", headers=bearer(tokens["ada"])).status_code == 200
    student = web_client.get("/instructor", headers=bearer(tokens["alice"]))
    assert student.status_code == 403 and "Not allowed" in student.text
    assert student.headers["content-type"].startswith("text/html")
    anonymous = web_client.get("/instructor", headers={"Accept": "text/html"})
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=/instructor")
    assert web_client.get("/instructor").status_code == 401
    assert web_client.get("/admin/users", headers=bearer(tokens["ines"])).status_code == 403
    assert web_client.get("/admin/users", headers=bearer(tokens["ada"])).status_code == 200


def test_error_pages_are_html_and_api_errors_stay_json(web_client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    missing = web_client.get("/problems/no-such-problem", headers=h)
    assert missing.status_code == 404 and "<h1" in missing.text
    bad = web_client.get("/submissions/not-a-number", headers=h)
    assert bad.status_code == 422 and "<h1" in bad.text
    nowhere = web_client.get("/no/such/page", headers=h)
    assert nowhere.status_code == 404 and "no page at this address" in nowhere.text
    api = web_client.get("/api/v1/problems/no-such-problem", headers=h)
    assert api.status_code == 404 and api.json()["detail"]


def test_sign_in_sets_cookie_and_forms_need_csrf(web_client: TestClient) -> None:
    wrong = web_client.post("/login", data={"name": "alice", "password": "nope", "next": "/"})
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    ok = web_client.post("/login", data={"name": "alice", "password": PASSWORDS["alice"], "next": "/submissions"})
    assert ok.status_code == 303 and ok.headers["location"] == "/submissions"
    assert web_client.get("/").status_code == 200  # the cookie now signs us in
    forged = web_client.post("/problems/web-scale/submit", data={"code": "x", "csrf": "forged"})
    assert forged.status_code == 403
    offsite = web_client.post(
        "/login", data={"name": "alice", "password": PASSWORDS["alice"], "next": "//evil.example"}
    )
    assert offsite.headers["location"] == "/"


def test_sign_in_page_throttles_guessing(web_client: TestClient) -> None:
    web_client.app.state.login_throttle.max_failures = 2  # type: ignore[attr-defined]
    for _ in range(2):
        assert web_client.post("/login", data={"name": "bob", "password": "nope", "next": "/"}).status_code == 401
    held = web_client.post("/login", data={"name": "bob", "password": PASSWORDS["bob"], "next": "/"})
    assert held.status_code == 429 and "too many failed sign-ins" in held.text
    assert int(held.headers["Retry-After"]) >= 1
    assert "tensorjudge_token" not in held.headers.get("set-cookie", "")


def test_exports_csv_and_gradescope(web_client: TestClient, tokens: dict[str, str]) -> None:
    for name, source in (("alice", ACCEPTED), ("bob", WRONG)):
        wait_done(web_client, tokens[name], submit(web_client, tokens[name], source))
    h = bearer(tokens["ines"])
    rows = list(
        csv.DictReader(io.StringIO(web_client.get("/instructor/export/grades.csv?problem=web-scale", headers=h).text))
    )
    assert {r["user"]: float(r["score"]) for r in rows} == {"alice": 4.0, "bob": 0.0}
    data = json.loads(web_client.get("/instructor/export/gradescope.json?problem=web-scale", headers=h).text)
    by_user = {s["user"]: s["results"] for s in data["students"]}
    assert by_user["alice"]["score"] == 4.0
    test = by_user["bob"]["tests"][0]
    assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
    assert {t["visibility"] for t in by_user["bob"]["tests"]} == {"visible", "after_published"}
    assert web_client.get("/instructor/export/grades.csv", headers=bearer(tokens["alice"])).status_code == 403


def test_instructor_table_filters(web_client: TestClient, tokens: dict[str, str]) -> None:
    wait_done(web_client, tokens["alice"], submit(web_client, tokens["alice"], ACCEPTED))
    wait_done(web_client, tokens["bob"], submit(web_client, tokens["bob"], WRONG))
    h = bearer(tokens["ines"])
    page = web_client.get("/instructor/submissions?verdict=wrong_answer", headers=h).text
    assert "1 submission." in page and "<td>bob</td>" in page and "<td>alice</td>" not in page
    page = web_client.get("/instructor/submissions?user_name=alice&status=done", headers=h).text
    assert "1 submission." in page and "<td>alice</td>" in page


def test_admin_creates_user_and_changes_role(web_client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["ada"])
    r = web_client.post("/admin/users", headers=h, data={"name": "carol", "role": "student", "password": ""})
    assert r.status_code == 200 and 'id="new-token"' in r.text
    carol_token = r.text.split('id="new-token">')[1].split("<")[0]
    assert web_client.get("/", headers=bearer(carol_token)).status_code == 200
    users = web_client.get("/api/v1/admin/users", headers=h).json()
    carol = next(u for u in users if u["name"] == "carol")
    r = web_client.post(f"/admin/users/{carol['id']}", headers=h, data={"role": "instructor", "active": "true"})
    assert r.status_code == 303
    assert web_client.get("/instructor", headers=bearer(carol_token)).status_code == 200


def _package_zip(slug: str) -> bytes:
    """The web-scale fixture as a zip under another slug."""
    from .helpers import WEB_SCALE

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in WEB_SCALE.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                data = path.read_bytes().replace(b'"web-scale"', f'"{slug}"'.encode())
                zf.writestr(path.relative_to(WEB_SCALE).as_posix(), data)
    return buf.getvalue()


def _wait_state(client: TestClient, token: str, url: str, state: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        html = client.get(url, headers=bearer(token)).text
        if f'data-state="{state}"' in html:
            return html
        time.sleep(0.2)
    raise AssertionError(f"{url} never reached state {state}:\n{html}")


@pytest.mark.sandbox
@pytest.mark.slow
def test_upload_edit_validate_publish_on_a_real_worker(worker_app: tuple[TestClient, dict[str, str]]) -> None:
    # The page only stages the version; the worker process validates it in the sandbox.
    client, tokens = worker_app
    h = bearer(tokens["ines"])
    r = client.post("/instructor/problems", headers=h, files={"package": ("p.zip", _package_zip("web-scale-two"))})
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("&")[0]
    version_id = int(url.split("version=")[1])
    html = client.get(url, headers=h).text
    assert 'data-state="pending"' in html or 'data-state="done"' in html
    r = client.post("/instructor/problems/web-scale-two/publish", headers=h, data={"version_id": version_id})
    assert r.status_code in (303, 409)  # refused while pending (unless the worker was very fast)
    html = _wait_state(client, tokens["ines"], url, "done")
    assert 'id="validation-result">Valid<' in html, html
    assert "tolerance margin <strong>∞</strong>" in html and "solutions/wrong_answer/corner.py" in html
    r = client.post("/instructor/problems/web-scale-two/publish", headers=h, data={"version_id": version_id})
    assert r.status_code == 303
    assert client.get("/problems/web-scale-two", headers=bearer(tokens["alice"])).status_code == 200

    edit = client.get(f"/instructor/problems/web-scale-two/edit?version={version_id}", headers=h)
    assert edit.status_code == 200 and "statement.md" in edit.text
    r = client.post(
        "/instructor/problems/web-scale-two/edit",
        headers=h,
        data={"version_id": version_id, "statement.md": "# Scale\n\nNow with $\\beta$.\n"},
    )
    assert r.status_code == 303
    new_url = r.headers["location"].split("&")[0]
    assert int(new_url.split("version=")[1]) > version_id
    assert 'id="validation-result">Valid<' in _wait_state(client, tokens["ines"], new_url, "done")
    # Students still see the published version until the new one is published.
    assert "Now with" not in client.get("/problems/web-scale-two", headers=bearer(tokens["alice"])).text


def test_upload_without_a_reachable_queue_is_a_503_page(web_client: TestClient, tokens: dict[str, str]) -> None:
    # web_client's dispatcher refuses validation tasks like an unreachable broker.
    h = bearer(tokens["ines"])
    r = web_client.post(
        "/instructor/problems",
        headers={**h, "Accept": "text/html"},
        files={"package": ("p.zip", _package_zip("web-scale-three"))},
    )
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert "Temporarily unavailable" in r.text and "validate it again" in r.text
    page = web_client.get("/instructor/problems/web-scale-three", headers=h).text
    assert 'data-state="error"' in page and "Validate again" in page


def test_instructor_rejudges_from_the_pages(web_client: TestClient, tokens: dict[str, str]) -> None:
    sid = submit(web_client, tokens["alice"], ACCEPTED)
    wait_done(web_client, tokens["alice"], sid)
    h = bearer(tokens["ines"])
    r = web_client.post(f"/instructor/submissions/{sid}/rejudge", headers=h)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/submissions/{sid}")
    r = web_client.post("/instructor/problems/web-scale/rejudge", headers=h)
    assert r.status_code == 303 and "queued" in r.headers["location"]
    data = wait_done(web_client, tokens["alice"], sid)
    assert data["verdict"] == "accepted" and data["attempts"] >= 1
    assert web_client.post(f"/instructor/submissions/{sid}/rejudge", headers=bearer(tokens["alice"])).status_code == 403


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (AuthError("who are you"), 401),
        (ForbiddenError("not you"), 403),
        (NotFoundError("no such thing"), 404),
        (ConflictError("clash"), 409),
        (ProblemError("bad package"), 422),
        (TooManyAttemptsError("slow down", retry_after_s=7), 429),
        (ServiceUnavailableError("queue down"), 503),
    ],
)
def test_api_and_pages_share_one_status_table(web_settings: Settings, error: Exception, status: int) -> None:
    def boom() -> None:
        raise error

    dispatcher = ThreadDispatcher(web_settings)
    app = create_app(web_settings, dispatcher)
    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = client.get("/api/v1/boom")
        html = client.get("/boom", headers={"Accept": "text/html"})
    dispatcher.shutdown()
    assert api.status_code == html.status_code == status
    assert api.json() == {"detail": str(error)}
    assert html.headers["content-type"].startswith("text/html") and str(error) in html.text
    if status == 429:
        assert api.headers["retry-after"] == html.headers["retry-after"] == "7"
    if status == 401:
        assert api.headers["www-authenticate"] == html.headers["www-authenticate"] == "Bearer"


def test_index_page_groups_problems_by_course(web_client: TestClient, tokens: dict[str, str]) -> None:
    html = web_client.get("/", headers=bearer(tokens["alice"])).text
    sections = {part.split('"', 1)[0]: part.split("</section>")[0] for part in html.split('data-course="')[1:]}
    assert 'data-slug="web-scale"' in sections["other"]  # the fixture problem has no tags
    # The seeded bundled problem (multi-head-matmul) is tagged with its course and assignment.
    assert 'data-slug="multi-head-matmul"' in sections["nju-llm"]
    assert 'data-assignment="2025-a1"' in sections["nju-llm"]
