"""`tensorjudge login` / whoami / logout and the exit codes of submit, against a real served
app (`tensorjudge serve`: SQLite, the embedded broker, its own worker, the real sandbox)."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from core.settings import REPO_ROOT

from .helpers import TINY
from .servers import free_port
from .test_embedded_e2e import CLI, served  # noqa: F401 - the served-app fixture

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

PASSWORD = "bob-secret-pass"


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # A session of its own: no controlling terminal, so the password prompt reads stdin as a
    # script piping it would.
    return subprocess.run([*CLI, *args], env=env, cwd=REPO_ROOT, input=stdin, capture_output=True, text=True,
                          timeout=600, check=False, start_new_session=True)


def test_login_whoami_submit_exit_codes_logout(
        served: tuple[str, dict[str, str]], tmp_path: Path) -> None:  # noqa: F811
    url, base_env = served
    env = {**base_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    made = _cli(env, "admin", "create-user", "bob", "--role", "student", "--password", PASSWORD)
    assert made.returncode == 0, made.stderr

    # Not signed in yet: a usage error that says what to do.
    whoami = _cli(env, "whoami")
    assert whoami.returncode == 2 and "tensorjudge login" in whoami.stderr

    wrong = _cli(env, "login", "--server", url, stdin="bob\nnot-the-password\n")
    assert wrong.returncode == 2 and "wrong user name or password" in wrong.stderr
    stored = tmp_path / "config" / "tensorjudge" / "credentials.json"
    assert not stored.exists()

    login = _cli(env, "login", "--server", url + "/", stdin=f"bob\n{PASSWORD}\n")
    assert login.returncode == 0, login.stderr
    assert "as bob (student)" in login.stdout and PASSWORD not in login.stdout
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    creds = json.loads(stored.read_text())
    assert creds["server"] == url and creds["token"].startswith("tj_") and creds["user"] == "bob"

    whoami = _cli(env, "whoami")
    assert (whoami.returncode, whoami.stdout.strip()) == (0, f"bob (student) at {url}"), whoami.stderr

    # submit with neither --server nor --token: the stored login is used.
    bad = tmp_path / "minus.py"
    bad.write_bytes((TINY / "solutions" / "wrong_answer" / "minus.py").read_bytes())
    rejected = _cli(env, "submit", "tiny-add", str(bad), "--wait", "--json")
    assert rejected.returncode == 1, rejected.stderr
    assert json.loads(rejected.stdout)["verdict"] == "wrong_answer"
    accepted = _cli(env, "submit", "tiny-add", str(TINY / "solutions" / "accepted" / "plus.py"), "--wait")
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted" in accepted.stdout
    # A trial run: graded on the public case only, exit 1 when it fails, and counted nowhere.
    trial = _cli(env, "run", "tiny-add", str(bad), "--json")
    assert trial.returncode == 1, trial.stderr
    tried = json.loads(trial.stdout)
    assert tried["kind"] == "trial" and [c["name"] for c in tried["cases"]] == ["small"]
    assert tried["cases"][0]["feedback"]["values"]["expected"]  # expected vs got
    good = _cli(env, "run", "tiny-add", str(TINY / "solutions" / "accepted" / "plus.py"))
    assert good.returncode == 0 and "trial run" in good.stdout, good.stderr
    listed = httpx.get(f"{url}/api/v1/submissions", headers={"Authorization": f"Bearer {creds['token']}"}).json()
    assert tried["id"] not in [s["id"] for s in listed] and len(listed) == 2
    queued = _cli(env, "submit", "tiny-add", str(bad))  # no --wait: queued is success
    assert queued.returncode == 0 and "queued" in queued.stdout
    unknown = _cli(env, "submit", "no-such-problem", str(bad), "--wait")
    assert unknown.returncode == 2 and "no-such-problem" in unknown.stderr
    nowhere = _cli(env, "submit", "tiny-add", str(bad), "--wait", "--server", f"http://127.0.0.1:{free_port()}",
                   "--token", creds["token"])
    assert nowhere.returncode == 3 and "cannot reach" in nowhere.stderr

    token = creds["token"]
    out = _cli(env, "logout")
    assert out.returncode == 0 and "token revoked" in out.stdout
    assert not stored.exists()
    # The stored token itself no longer works.
    again = _cli(env, "whoami", "--server", url, "--token", token)
    assert again.returncode == 2 and "401" in again.stderr
