"""The embedded default end to end: `tensorjudge serve` (SQLite, filesystem broker, its own
worker, the real sandboxed grader), then the CLI: create-user, submit --wait --json,
leaderboard --json."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import REPO_ROOT

from .helpers import FIXTURES, TINY
from .servers import free_port
from .workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

CLI = [sys.executable, "-m", "cli.main"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A running `tensorjudge serve` on a free port with a temp data dir."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENSORJUDGE_")}
    env.update(
        TENSORJUDGE_DATA_DIR=str(tmp_path / "data"),
        TENSORJUDGE_PROBLEMS_DIR=str(FIXTURES),
        PYTHONPATH=str(REPO_ROOT),
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError("serve exited:\n" + (tmp_path / "serve.log").read_text())
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 120, "serve to answer /api/v1/health", interval_s=0.5)
        yield url, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _cli(env: dict[str, str], *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_serve_submit_and_leaderboard(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = served
    out = _cli(env, "admin", "create-user", "bob", "--role", "student")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("tj_")
    wrong = tmp_path / "wrong.py"
    shutil.copy(TINY / "solutions" / "wrong_answer" / "minus.py", wrong)
    results = {}
    for name, path in (("good", TINY / "solutions" / "accepted" / "plus.py"), ("bad", wrong)):
        run = _cli(env, "submit", "tiny-add", str(path), "--server", url, "--token", token, "--wait", "--json")
        assert run.returncode == (0 if name == "good" else 1), run.stderr  # 1: graded, not accepted
        results[name] = json.loads(run.stdout)
    good, bad = results["good"], results["bad"]
    assert (good["verdict"], good["score"], good["max_score"]) == ("accepted", 3.0, 3.0), good
    assert isinstance(good["id"], int) and [c["name"] for c in good["cases"]] == ["small", "hidden"]
    assert bad["verdict"] == "wrong_answer" and bad["score"] == 0.0, bad
    board = _cli(env, "leaderboard", "tiny-add", "--server", url, "--json")
    assert board.returncode == 0, board.stderr
    entries = json.loads(board.stdout)["entries"]
    assert [(e["user"], e["score"], e["submission_id"]) for e in entries] == [("bob", 3.0, good["id"])]
    # The demo accounts were created and their tokens printed (and work).
    demo = json.loads((Path(env["TENSORJUDGE_DATA_DIR"]) / "demo_accounts.json").read_text())
    me = httpx.get(f"{url}/api/v1/auth/me", headers={"Authorization": f"Bearer {demo['admin']['token']}"})
    assert me.json()["role"] == "admin"
