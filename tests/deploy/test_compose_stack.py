"""The docker-compose stack, really run: api, two worker-cpu replicas, postgres and redis from
the images scripts/build-stack-images-offline.sh builds here, sandboxes through the host's
Docker engine. Through the stack's published port: an instructor uploads a package on the
upload form and a worker validates it, a student's submission gets a verdict, and a
submission whose worker container is killed mid-grade still finishes (the other replica or
the restarted one takes it once the dead worker's heartbeat stops).

Skipped, saying why, where no engine or no compose runs; `make test` starts an engine as root
(scripts/docker-engine.sh up) and builds the images, so there it runs."""

from __future__ import annotations

import io
import secrets
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.compose import Stack, build_images, free_port, wait_for, why_not_runnable

pytestmark = [pytest.mark.compose, pytest.mark.docker, pytest.mark.slow]

PACKAGE = Path(__file__).parents[1] / "service" / "fixtures" / "tiny-add"
FINAL = {"done", "failed", "superseded"}
# Accepted, but slow enough (two cases, a few seconds each) to kill its worker mid-grade.
SLOW_PLUS = b"import time\n\n\ndef add(a, b):\n    time.sleep(4)\n    return a + b\n"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The stack, up and healthy; torn down at the end whatever happened."""
    why = why_not_runnable()
    if why:
        pytest.skip(why)
    build_images()
    stack = Stack(settings={
        # Sized for a 2-core machine: one API process, one grade at a time per replica, no
        # warm sandboxes; the dead worker's claim is released after the default 15 s.
        "TENSORJUDGE_API_WORKERS": "1",
        "TENSORJUDGE_CPU_WORKER_CONCURRENCY": "1",
        "TENSORJUDGE_CPU_WORKERS": "2",
        "TENSORJUDGE_SANDBOX_WARM": "0",
        # Flower (profile "monitoring") is started by one test only, on a port of its own.
        "TENSORJUDGE_FLOWER_BASIC_AUTH": f"ops:{secrets.token_hex(12)}",
        "TENSORJUDGE_FLOWER_PORT": str(free_port()),
    })
    # A SIGTERM (an outer timeout, CI stopping) still runs the teardown below.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        stack.up()
        wait_for(lambda: httpx.get(f"{stack.url}/api/v1/health", timeout=5).status_code == 200, 300,
                 "the stack's API to answer healthy")
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.down()
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(f"terminated by signal {signum}")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _package_tgz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(PACKAGE, arcname=PACKAGE.name)
    return buf.getvalue()


def _submit(stack: Stack, token: str, code: bytes) -> int:
    r = httpx.post(f"{stack.url}/api/v1/submissions", headers=_auth(token), timeout=30,
                   data={"problem": "tiny-add"}, files={"files": ("solution.py", code)})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _submission(stack: Stack, token: str, sid: int) -> dict[str, Any]:
    r = httpx.get(f"{stack.url}/api/v1/submissions/{sid}", headers=_auth(token), timeout=10)
    r.raise_for_status()
    return dict(r.json())


def _final(stack: Stack, token: str, sid: int, timeout_s: float) -> dict[str, Any]:
    return wait_for(lambda: (s := _submission(stack, token, sid))["status"] in FINAL and s, timeout_s,
                    f"submission {sid} to be graded")


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    """An instructor and a student, made with the CLI in the api container."""
    return {"teacher": stack.create_user("tess", "instructor"), "student": stack.create_user("sam", "student")}


@pytest.fixture(scope="module")
def published(stack: Stack, tokens: dict[str, str]) -> int:
    """tiny-add uploaded on the instructor's form, validated by a worker, published."""
    teacher = tokens["teacher"]
    # The form's own post (multipart, field `package`); a bearer token stands in for the cookie.
    r = httpx.post(f"{stack.url}/instructor/problems", headers=_auth(teacher), timeout=60,
                   files={"package": ("tiny-add.tgz", _package_tgz())}, follow_redirects=False)
    assert r.status_code == 303, r.text
    vid = int(r.headers["location"].split("version=")[1].split("&")[0])

    def report() -> dict[str, Any]:
        versions = httpx.get(f"{stack.url}/api/v1/admin/problems/tiny-add/versions", headers=_auth(teacher),
                             timeout=10).json()
        return dict(next(v for v in versions if v["id"] == vid)["validation"])

    wait_for(lambda: report()["state"] != "pending", 300, "a worker to validate the uploaded package")
    assert report()["state"] == "done" and report()["ok"] is True, report()
    r = httpx.post(f"{stack.url}/api/v1/admin/problems/tiny-add/publish", json={"version_id": vid},
                   headers=_auth(teacher), timeout=30)
    assert r.status_code == 200 and r.json()["current"] is True, r.text
    return vid


def test_stack_runs_two_worker_replicas_and_redis_with_appendonly(stack: Stack) -> None:
    assert len(stack.containers("worker-cpu")) == 2
    assert not stack.run("ps", "-q", "worker-gpu").stdout.strip()  # only with the gpu profile
    [redis] = stack.containers("redis")
    out = subprocess.run(["docker", "exec", redis, "redis-cli", "config", "get", "appendonly"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    assert out == ["appendonly", "yes"]


def test_flower_starts_with_its_profile_and_lists_the_workers(stack: Stack) -> None:
    assert not stack.run("ps", "-q", "flower").stdout.strip()  # not started by a plain `up`
    url = f"http://127.0.0.1:{stack.settings['TENSORJUDGE_FLOWER_PORT']}"
    user, password = stack.settings["TENSORJUDGE_FLOWER_BASIC_AUTH"].split(":", 1)
    try:
        stack.run("--profile", "monitoring", "up", "-d", "--no-deps", "flower", timeout_s=120)

        def workers() -> dict[str, Any] | None:
            r = httpx.get(f"{url}/api/workers", params={"refresh": "true"}, auth=(user, password), timeout=15)
            return dict(r.json()) if r.status_code == 200 and len(r.json()) >= 2 else None

        listed = wait_for(workers, 60, "Flower to list both worker-cpu replicas")
        print("\nFlower lists:", sorted(listed))
        assert all(name.startswith("cpu@") for name in listed), sorted(listed)
        assert {name.split("@", 1)[1] for name in listed} >= {cid[:12] for cid in stack.containers("worker-cpu")}
        assert httpx.get(f"{url}/api/workers", timeout=15).status_code == 401  # basic auth required
        assert httpx.get(f"{url}/api/workers", auth=(user, "wrong"), timeout=15).status_code == 401
    finally:
        stack.run("--profile", "monitoring", "rm", "-fs", "flower", check=False, timeout_s=120)


def test_uploaded_package_validated_and_submission_graded(stack: Stack, tokens: dict[str, str],
                                                          published: int) -> None:
    student = tokens["student"]
    plus = (PACKAGE / "solutions" / "accepted" / "plus.py").read_bytes()
    minus = (PACKAGE / "solutions" / "wrong_answer" / "minus.py").read_bytes()
    # One after the other: a newer submission would supersede a still-queued older one.
    good = _submit(stack, student, plus)
    good_s = _final(stack, student, good, 240)
    bad = _submit(stack, student, minus)
    bad_s = _final(stack, student, bad, 240)
    assert (good_s["status"], good_s["verdict"], good_s["score"]) == ("done", "accepted", 3), good_s
    assert (bad_s["status"], bad_s["verdict"]) == ("done", "wrong_answer"), bad_s


def test_submission_survives_its_worker_container_killed_mid_grade(stack: Stack, tokens: dict[str, str],
                                                                   published: int) -> None:
    student = tokens["student"]
    sid = _submit(stack, student, SLOW_PLUS)

    def grading_worker() -> str | None:
        # Running, with a sandbox container of one of our workers going: that worker is mid-grade.
        if _submission(stack, student, sid)["status"] != "running":
            return None
        return next(iter(stack.sandbox_containers().values()), None)

    victim_host = wait_for(grading_worker, 180, f"submission {sid} to be mid-grade on a worker")
    [victim] = [cid for cid in stack.containers("worker-cpu") if cid.startswith(victim_host)]
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True, timeout=60)

    done = _final(stack, student, sid, 300)
    assert (done["status"], done["verdict"], done["score"]) == ("done", "accepted", 3), done
    assert done["attempts"] >= 2, done  # graded again after the first claim died with its worker
