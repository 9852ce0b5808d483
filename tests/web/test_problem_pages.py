"""Problem list, problem and submission pages over HTTP (TestClient, the fast fake grader):
difficulty, tags and acceptance rate; '(you)' on the leaderboard; tracebacks with their
newlines; a compile error shown once; the speed label; trial runs from the page form."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db.base import session_scope
from core.db.models import CaseResult, Submission
from core.services import problems as problem_service
from core.settings import Settings

from .helpers import WEB_SCALE
from .test_pages_http import ACCEPTED, WRONG, bearer, submit, wait_done

TRACEBACK = ('Traceback (most recent call last):\n  File "solution.py", line 4, in scale\n'
             "    return x / 0\nZeroDivisionError: division by zero")


def _row(page: str, slug: str) -> str:
    return page.split(f'data-slug="{slug}"', 1)[1].split("</tr>", 1)[0]


def test_list_shows_difficulty_tags_and_acceptance(web_client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["alice"])
    wait_done(web_client, tokens["alice"], submit(web_client, tokens["alice"], WRONG))
    wait_done(web_client, tokens["alice"], submit(web_client, tokens["alice"], ACCEPTED))
    wait_done(web_client, tokens["bob"], submit(web_client, tokens["bob"], WRONG))
    page = web_client.get("/", headers=h).text
    row = _row(page, "web-scale")
    cell = row.split('class="acceptance"', 1)[1]
    assert "33%" in cell and "1 of 3" in cell and "solved by 1" in cell
    bundled = _row(page, "multi-head-matmul")
    assert 'class="tag">nju-llm<' in bundled and 'class="tag">2025-a1<' in bundled
    assert bundled.split('class="difficulty-cell">', 1)[1].startswith("–")  # it declares none
    # A trial run changes none of it.
    r = web_client.post("/problems/web-scale/run", headers=h,
                        files={"files": ("solution.py", WRONG, "text/x-python")})
    assert r.status_code == 303
    trial = int(r.headers["location"].rsplit("/", 1)[1])
    wait_done(web_client, tokens["alice"], trial)
    assert "1 of 3" in _row(web_client.get("/", headers=h).text, "web-scale")
    trial_page = web_client.get(f"/submissions/{trial}", headers=h).text
    assert "Trial run #" in trial_page and 'data-case="hidden"' not in trial_page
    assert f'href="/submissions/{trial}"' not in web_client.get("/submissions", headers=h).text


def test_leaderboard_marks_you(web_client: TestClient, tokens: dict[str, str]) -> None:
    wait_done(web_client, tokens["alice"], submit(web_client, tokens["alice"], ACCEPTED))
    wait_done(web_client, tokens["bob"], submit(web_client, tokens["bob"], WRONG))
    for name in ("alice", "bob"):
        page = web_client.get("/problems/web-scale/leaderboard", headers=bearer(tokens[name])).text
        rows = {r.split("<th scope=\"row\">", 1)[1].split(" ", 1)[0].split("<", 1)[0]: r
                for r in page.split("<tr")[2:] if '<th scope="row">' in r}
        assert "(you)" in rows[name] and 'class="me"' in rows[name]
        assert all("(you)" not in r for who, r in rows.items() if who != name)


def test_tracebacks_keep_newlines_and_a_compile_error_shows_once(
        web_client: TestClient, tokens: dict[str, str], web_settings: Settings) -> None:
    h = bearer(tokens["alice"])
    crashed = submit(web_client, tokens["alice"], WRONG)
    compiled = submit(web_client, tokens["alice"], WRONG)
    wait_done(web_client, tokens["alice"], compiled)
    with session_scope(web_settings.effective_database_url) as session:
        for sid, verdict, message in ((crashed, "runtime_error", TRACEBACK),
                                      (compiled, "compile_error", "solution.py, line 3: invalid syntax")):
            sub = session.get(Submission, sid)
            assert sub is not None
            sub.verdict, sub.message = verdict, (message if verdict == "compile_error" else "")
            for case in session.scalars(select(CaseResult).where(CaseResult.submission_id == sid)):
                case.verdict, case.message, case.feedback = verdict, message, None
        session.commit()
    page = web_client.get(f"/submissions/{crashed}", headers=h).text
    block = re.search(r'<pre class="message">(.*?)</pre>', page, re.S)
    assert block is not None and html.unescape(block.group(1)) == TRACEBACK
    page = web_client.get(f"/submissions/{compiled}", headers=h).text
    assert page.count("invalid syntax") == 1
    assert page.count("see the message above") == 3  # each case row points to it


def test_speed_label_says_lower_is_faster(web_client: TestClient, tokens: dict[str, str]) -> None:
    sid = submit(web_client, tokens["alice"], ACCEPTED)
    wait_done(web_client, tokens["alice"], sid)
    page = web_client.get(f"/submissions/{sid}", headers=bearer(tokens["alice"])).text
    assert re.search(r"speed 1\.30× the reference time \(lower is faster\)", page)


def test_difficulty_and_tags_from_problem_toml(web_client: TestClient, tokens: dict[str, str],
                                               web_settings: Settings, tmp_path: Path) -> None:
    package = tmp_path / "web-scale-hard"
    shutil.copytree(WEB_SCALE, package)
    toml = package / "problem.toml"
    extra = 'module = "solution"\ndifficulty = "hard"\ntags = ["demo", "w1"]'
    toml.write_text(toml.read_text().replace('slug = "web-scale"', 'slug = "web-scale-hard"', 1)
                    .replace('module = "solution"', extra, 1))
    with session_scope(web_settings.effective_database_url) as session:
        problem_service.stage_directory(session, package)
        problem_service.publish(session, "web-scale-hard")
        session.commit()
    h = bearer(tokens["bob"])
    row = _row(web_client.get("/", headers=h).text, "web-scale-hard")
    assert 'difficulty-hard">hard<' in row and 'class="tag">w1<' in row
    page = web_client.get("/problems/web-scale-hard", headers=h).text
    assert 'difficulty-hard">hard<' in page and 'class="tag">demo<' in page
