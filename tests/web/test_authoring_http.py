"""Instructor authoring pages over plain HTTP (issue 16): the validation report's speed ratios
and must-fail warnings, per-problem version numbers, the version diff, the student-view
preview and the package file editor."""

from __future__ import annotations

from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.db.base import session_scope
from core.db.models import Problem, ProblemVersion
from core.grading.validate import SolutionResult, ValidationReport, must_fail_warning
from core.settings import Settings

from .test_pages_http import _wait_state, bearer


def _store_report(settings: Settings, slug: str) -> int:
    """Give the problem's newest version a finished report (as the worker stores it)."""
    accepted = SolutionResult(file="solutions/accepted/times.py", expected="accepted", verdict="accepted", ok=True,
                              score=4, passed_cases=3, total_cases=3, speed_ratio=1.37,
                              case_speed_ratios={"timed": 1.37}, max_error_ratio=0.0)
    loose = SolutionResult(file="solutions/wrong_answer/corner.py", expected="wrong_answer",
                           verdict="wrong_answer", ok=True, score=3, passed_cases=2, total_cases=3,
                           speed_ratio=2.5, case_speed_ratios={"timed": 2.5}, failed_cases=["small"])
    report = ValidationReport(problem=slug, version="h", ok=True, budget_ratio=1000.0,
                              solutions=[accepted, loose], warnings=[must_fail_warning(loose) or ""])
    with session_scope(settings.effective_database_url) as session:
        version = session.scalars(select(ProblemVersion).join(Problem, Problem.id == ProblemVersion.problem_id)
                                  .where(Problem.slug == slug).order_by(ProblemVersion.id.desc())).first()
        assert version is not None
        version.validation = {**report.model_dump(mode="json"), "state": "done"}
        session.commit()
        return version.id


def test_report_shows_speed_ratios_and_must_fail_warning(
        web_client: TestClient, web_settings: Settings, tokens: dict[str, str]) -> None:
    version_id = _store_report(web_settings, "web-scale")
    html = web_client.get(f"/instructor/problems/web-scale?version={version_id}", headers=bearer(tokens["ines"])).text
    assert "Time ÷ reference" in html
    assert "<strong>1.37×</strong>" in html and "<strong>2.5×</strong>" in html
    assert ("must-fail solution solutions/wrong_answer/corner.py passes 2 of 3 cases" in html)
    assert 'class="table-wrap report-wrap"' in html  # the table scrolls inside its card
    assert "2 / 3" in html
    # The budget hint names the slowest accepted solution (the must-fail one is left out).
    hint = html.split('id="budget-hint"', 1)[1].split("</p>", 1)[0]
    assert "1.37×" in hint and "2.5" not in hint and "1000×" in hint


def _stage_edit(settings: Settings, slug: str, edits: dict[str, str]) -> int:
    """A new version of `slug` from its newest one with `edits`, staged through the same
    service call the edit page uses (validation left pending: no worker here)."""
    from core.db.models import User
    from core.services import packages
    from core.services import problems as problem_service

    with session_scope(settings.effective_database_url) as session:
        problem = problem_service.get_problem(session, slug, None, include_unpublished=True)
        base = problem_service.get_version(session, problem)
        ines = session.scalars(select(User).where(User.name == "ines")).one()
        staged = packages.stage_edit(session, base, edits, ines)
        session.commit()
        return staged.version.id


def test_versions_are_numbered_per_problem(web_client: TestClient, web_settings: Settings,
                                           tokens: dict[str, str]) -> None:
    # Seeded: web-scale (id 1), then multi-head-matmul (id 2); this edit is web-scale's second.
    new_id = _stage_edit(web_settings, "web-scale", {"statement.md": "# Scale\n\nSecond version.\n"})
    h = bearer(tokens["ines"])
    listed = web_client.get("/api/v1/admin/problems/web-scale/versions", headers=h).json()
    assert [(v["id"], v["number"]) for v in listed] == [(new_id, 2), (1, 1)]
    assert new_id != 2  # the global id is not the number
    other = web_client.get("/api/v1/admin/problems/multi-head-matmul/versions", headers=h).json()
    assert [v["number"] for v in other] == [1]
    html = web_client.get(f"/instructor/problems/web-scale?version={new_id}", headers=h).text
    assert "Validation of version v2" in html and "Publish version v2" in html
    assert "<strong>v1</strong>" in html and "<strong>v2</strong>" in html
    assert f"#{new_id}" not in html
    dashboard = web_client.get("/instructor", headers=h).text
    row = dashboard.split('href="/instructor/problems/web-scale"', 1)[1].split("</tr>", 1)[0]
    assert "v2 <code>" in row
    r = web_client.post("/instructor/problems/web-scale/publish", headers=h,
                        data={"version_id": new_id, "force": "true"})
    assert r.status_code == 303
    assert "v2" in web_client.get(r.headers["location"], headers=h).text.split('class="flash', 1)[1][:200]


def test_version_diff_page(web_client: TestClient, web_settings: Settings, tokens: dict[str, str]) -> None:
    new_id = _stage_edit(web_settings, "web-scale", {"statement.md": "# Scale\n\nNow scale by $\\beta$.\n"})
    h = bearer(tokens["ines"])
    manage = web_client.get(f"/instructor/problems/web-scale?version={new_id}", headers=h).text
    assert f'/instructor/problems/web-scale/diff?base=1&amp;to={new_id}' in manage  # linked from the list
    r = web_client.get(f"/instructor/problems/web-scale/diff?base=1&to={new_id}", headers=h)
    assert r.status_code == 200
    assert "v1 → v2" in r.text
    assert 'data-path="statement.md" data-status="changed"' in r.text
    assert '<span class="add">+Now scale by $\\beta$.</span>' in r.text
    assert 'data-path="driver.py"' not in r.text  # unchanged files are counted, not shown
    assert "6 file(s) unchanged" in r.text
    # The default compares the newest version with the one before it.
    assert "v1 → v2" in web_client.get("/instructor/problems/web-scale/diff", headers=h).text
    first = web_client.get("/instructor/problems/web-scale/diff?to=1", headers=h).text
    assert "nothing to compare" in first
    assert web_client.get("/instructor/problems/web-scale/diff?base=999", headers=h).status_code == 404
    assert web_client.get("/instructor/problems/web-scale/diff", headers=bearer(tokens["alice"])).status_code == 403


def test_student_view_preview_of_an_unpublished_version(
        web_client: TestClient, web_settings: Settings, tokens: dict[str, str]) -> None:
    new_id = _stage_edit(web_settings, "web-scale", {
        "statement.md": "# Scale\n\nPreview me: multiply by alpha.\n",
        "starter.py": "import torch\n\n\ndef scale(x, alpha):\n    raise NotImplementedError  # v2 starter\n"})
    h = bearer(tokens["ines"])
    assert f"/instructor/problems/web-scale/versions/{new_id}/preview" in web_client.get(
        f"/instructor/problems/web-scale?version={new_id}", headers=h).text
    r = web_client.get(f"/instructor/problems/web-scale/versions/{new_id}/preview", headers=h)
    assert r.status_code == 200
    html = r.text
    assert 'id="preview-banner"' in html and "Preview of version v2 (not published: students see v1)" in html
    assert "Preview me: multiply by alpha." in html and "# v2 starter" in html
    assert 'id="submit-button" disabled' in html and 'id="run-button" disabled' in html
    assert "small" in html and "Public test cases" in html  # the public case and the limits
    assert "60 s per run" in html
    # Students see the published version, and cannot open a preview.
    student = web_client.get("/problems/web-scale", headers=bearer(tokens["alice"])).text
    assert "Preview me" not in student and "preview-banner" not in student
    assert web_client.get(f"/instructor/problems/web-scale/versions/{new_id}/preview",
                          headers=bearer(tokens["alice"])).status_code == 403
    assert web_client.get("/instructor/problems/web-scale/versions/999/preview", headers=h).status_code == 404
    live = web_client.get("/instructor/problems/web-scale/versions/1/preview", headers=h).text
    assert "(the published version)" in live


def _versions_of(client: TestClient, token: str, slug: str = "web-scale") -> list[int]:
    return [v["id"] for v in client.get(f"/api/v1/admin/problems/{slug}/versions", headers=bearer(token)).json()]


def test_file_editor_refuses_paths_outside_the_package(
        web_client: TestClient, web_settings: Settings, tokens: dict[str, str]) -> None:
    h = bearer(tokens["ines"])
    page = web_client.get("/instructor/problems/web-scale/files?version=1", headers=h)
    assert page.status_code == 200
    assert "solutions/wrong_answer/corner.py" in page.text and "problem.toml" in page.text
    opened = web_client.get("/instructor/problems/web-scale/files?version=1&path=solutions/accepted/times.py",
                            headers=h).text
    assert "def scale" in opened and 'id="delete-file"' in opened
    before = _versions_of(web_client, tokens["ines"])
    refused = {
        "../evil.py": "'..' is not allowed",
        "solutions/../../evil.py": "'..' is not allowed",
        "/etc/passwd": "absolute paths are not allowed",
        "C:/x.py": "absolute paths are not allowed",
        ".hidden/x.py": "hidden files",
        "": "give the file's path",
        "sol utions/x.py": "use letters, digits",
    }
    for path, message in refused.items():
        r = web_client.post("/instructor/problems/web-scale/files", headers=h,
                            data={"version_id": 1, "path": path, "text": "x = 1\n"})
        assert r.status_code == 422, path
        assert message in unescape(r.text), path
        assert str(web_settings.data_dir) not in r.text and "/tmp/" not in r.text
    r = web_client.post("/instructor/problems/web-scale/files", headers=h,
                        data={"version_id": 1, "path": "missing.py", "action": "delete"})
    assert r.status_code == 422 and "no such file" in r.text
    # A package the loader refuses is not stored either, and its message names no server folder.
    r = web_client.post("/instructor/problems/web-scale/files", headers=h,
                        data={"version_id": 1, "path": "problem.toml", "text": "slug = [broken\n"})
    assert r.status_code == 422 and "problem.toml" in r.text and "tj-package-" not in r.text
    assert "slug = [broken" in r.text  # the text is kept on the form
    assert _versions_of(web_client, tokens["ines"]) == before
    assert web_client.get("/instructor/problems/web-scale/files", headers=bearer(tokens["alice"])).status_code == 403


PARTLY_WRONG = ("import torch\n\n\ndef scale(x, alpha):\n"
                "    return x * alpha + (1 if tuple(x.shape) == (5, 7) else 0)\n")


@pytest.mark.sandbox
@pytest.mark.slow
def test_add_edit_delete_a_solution_validated_on_a_real_worker(
        worker_app: tuple[TestClient, dict[str, str]]) -> None:
    # Added in the browser, the package is stored as a new version and the worker process
    # validates it in the sandbox: the new must-fail solution is in the report, with its warning.
    client, tokens = worker_app
    h = bearer(tokens["ines"])
    r = client.post("/instructor/problems/web-scale/files", headers=h,
                    data={"version_id": 1, "path": "./solutions/wrong_answer/partly.py", "text": PARTLY_WRONG})
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("&")[0]
    added = int(url.split("version=")[1])
    page = _wait_state(client, tokens["ines"], url, "done")
    assert "solutions/wrong_answer/partly.py" in page
    assert "must-fail solution solutions/wrong_answer/partly.py passes 2 of 3 cases" in page
    assert 'id="validation-result">Valid<' in page  # a warning, not an error
    assert "Time ÷ reference" in page and "×</strong>" in page
    # Edit it (now wrong everywhere), then delete it: two more versions.
    r = client.post("/instructor/problems/web-scale/files", headers=h,
                    data={"version_id": added, "path": "solutions/wrong_answer/partly.py",
                          "text": PARTLY_WRONG.replace("(5, 7)", "tuple(x.shape)")})
    assert r.status_code == 303
    edited = int(r.headers["location"].split("version=")[1].split("&")[0])
    assert "tuple(x.shape) == tuple(x.shape)" in client.get(
        f"/instructor/problems/web-scale/files?version={edited}&path=solutions/wrong_answer/partly.py", headers=h).text
    r = client.post("/instructor/problems/web-scale/files", headers=h,
                    data={"version_id": edited, "path": "solutions/wrong_answer/partly.py", "action": "delete"})
    assert r.status_code == 303
    deleted = int(r.headers["location"].split("version=")[1].split("&")[0])
    assert deleted == 1  # the package is v1 again: nothing new is stored, v1 is shown
    assert "identical to version v1" in client.get(r.headers["location"], headers=h).text
    listing = client.get(f"/instructor/problems/web-scale/files?version={deleted}", headers=h).text
    assert "partly.py" not in listing and "corner.py" in listing
    diff = client.get(f"/instructor/problems/web-scale/diff?base={edited}&to={deleted}", headers=h).text
    assert 'data-path="solutions/wrong_answer/partly.py" data-status="removed"' in diff
    versions = client.get("/api/v1/admin/problems/web-scale/versions", headers=h).json()
    assert [v["number"] for v in versions] == [3, 2, 1]
