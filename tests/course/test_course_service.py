"""A course repository submitted to a running server as it stands: `tensorjudge serve` (the
embedded default with its real worker and sandbox), then the CLI (a folder; several files with
their relative paths), the JSON API (a zip) and the web page's upload form (a zip)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import REPO_ROOT
from tests.conftest import FIXTURES
from tests.course.repos import course_repo, zip_tree
from tests.service.servers import free_port
from tests.service.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
CLI = [sys.executable, "-m", "cli.main"]
GRADED = {"scale": "src/functional.py:scale", "Scaler": "src/modeling/layer.py:Scaler"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """A running `tensorjudge serve` over the fixture problems (course-pkg among them)."""
    tmp = tmp_path_factory.mktemp("course-serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORJUDGE_")}
    env.update(TENSORJUDGE_DATA_DIR=str(tmp / "data"), TENSORJUDGE_PROBLEMS_DIR=str(FIXTURES / "problems"),
               PYTHONPATH=str(REPO_ROOT))
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], cwd=tmp, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError("serve exited:\n" + (tmp / "serve.log").read_text())
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 120, "serve to answer /api/v1/health", interval_s=0.5)
        demo = json.loads((tmp / "data" / "demo_accounts.json").read_text())
        yield url, env, demo["student"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _submit_cli(env: dict[str, str], url: str, token: str, *targets: str, cwd: Path) -> dict[str, object]:
    out = subprocess.run([*CLI, "submit", "course-pkg", *targets, "--server", url, "--token", token,
                          "--wait", "--json"], env={**env, "PYTHONPATH": str(REPO_ROOT)}, cwd=cwd,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _wait_done(url: str, token: str, sub_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        sub = httpx.get(f"{url}/api/v1/submissions/{sub_id}", headers={"Authorization": f"Bearer {token}"},
                        timeout=60).json()
        if sub["status"] in ("done", "failed"):
            return sub  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"submission {sub_id} not graded in time")


def test_cli_submits_the_repository_folder_and_its_files(
        served: tuple[str, dict[str, str], dict[str, str]], tmp_path: Path) -> None:
    url, env, student = served
    repo = course_repo(tmp_path / "repo", noisy=True)
    whole = _submit_cli(env, url, student["token"], str(repo), cwd=tmp_path)
    assert (whole["verdict"], whole["score"], whole["max_score"]) == ("accepted", 2.0, 2.0), whole
    assert whole["graded"] == GRADED
    assert any("graded on its own" in n for n in whole["notes"])  # type: ignore[attr-defined]
    files = ["src/__init__.py", "src/functional.py", "src/modeling/__init__.py", "src/modeling/layer.py"]
    several = _submit_cli(env, url, student["token"], *files, cwd=course_repo(tmp_path / "clean"))
    assert several["verdict"] == "accepted" and several["graded"] == GRADED, several


def test_api_takes_a_zip_of_the_repository(served: tuple[str, dict[str, str], dict[str, str]], tmp_path: Path) -> None:
    url, _env, student = served
    data = zip_tree(course_repo(tmp_path / "repo"), top="assignment-main/")
    r = httpx.post(f"{url}/api/v1/submissions", data={"problem": "course-pkg"},
                   files=[("files", ("assignment-main.zip", data, "application/zip"))],
                   headers={"Authorization": f"Bearer {student['token']}"}, timeout=60)
    assert r.status_code in (200, 201, 202), r.text
    sub = _wait_done(url, student["token"], r.json()["id"])
    assert sub["verdict"] == "accepted" and sub["graded"] == GRADED, sub
    assert "assignment-main/src/modeling/layer.py" in sub["files"]  # stored as uploaded  # type: ignore[operator]


def test_web_upload_form_takes_a_zip_of_the_repository(
        served: tuple[str, dict[str, str], dict[str, str]], tmp_path: Path) -> None:
    url, _env, student = served
    with httpx.Client(base_url=url, follow_redirects=False, timeout=60) as web:
        signed = web.post("/login", data={"name": "student", "password": student["password"], "next": "/"})
        assert signed.status_code == 303, signed.text
        form = web.get("/problems/course-pkg")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert form.status_code == 200 and csrf, form.text[:500]
        data = zip_tree(course_repo(tmp_path / "repo", noisy=True))
        posted = web.post("/problems/course-pkg/submit", data={"csrf": csrf.group(1)},
                          files=[("files", ("my-repo.zip", data, "application/zip"))])
        assert posted.status_code == 303, posted.text
        sub_id = int(re.search(r"/submissions/(\d+)", posted.headers["location"]).group(1))  # type: ignore[union-attr]
        sub = _wait_done(url, student["token"], sub_id)
        assert sub["verdict"] == "accepted", sub
        page = web.get(f"/submissions/{sub_id}")
        assert "What was graded" in page.text and "src/modeling/layer.py:Scaler" in page.text
        assert "graded on its own" in page.text
