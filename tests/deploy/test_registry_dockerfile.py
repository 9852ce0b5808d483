"""The repository's Dockerfile (the image machines that reach a registry build) built here:
python:3.11-slim cannot be pulled on this machine, so its FROM is the build argument
PYTHON_IMAGE and it is built on the offline base (scripts/build-stack-images-offline.sh),
which has Python 3.11 and pip at /opt/venv and CPU torch already (the torch step finds it
installed and never asks the PyTorch index). What this does not check, and cannot here: the
pull of python:3.11-slim and the install of torch from download.pytorch.org (docs/deploy.md)."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from core.settings import REPO_ROOT
from tests.deploy.compose import _ok

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE = os.environ.get("TJ_STACK_BASE_IMAGE", "tensorjudge-stack-base:latest")


def _docker(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout_s)


def test_registry_dockerfile_builds_on_the_offline_base_and_runs() -> None:
    if not _ok(["docker", "info"]):
        pytest.skip("no Docker engine answers (scripts/docker-engine.sh up starts one as root)")
    if not _ok(["docker", "image", "inspect", BASE]):
        pytest.skip(f"no {BASE} (scripts/build-stack-images-offline.sh builds it)")
    tag = f"tj-registry-check:{secrets.token_hex(4)}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder: no buildx component needed
    try:
        built = subprocess.run(["docker", "build", "-q", "-f", "Dockerfile", "--build-arg", f"PYTHON_IMAGE={BASE}",
                                "-t", tag, "."], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                               timeout=300)
        assert built.returncode == 0, built.stderr[-3000:]
        check = ("tensorjudge --help >/dev/null && "
                 "python -c 'import api.main, worker.celery_app, torch; print(torch.__version__)' && "
                 "id -u tensorjudge && curl --version | head -n 1")
        ran = _docker("run", "--rm", "-e", f"TENSORJUDGE_SECRET_KEY={secrets.token_hex(16)}", tag, "sh", "-c", check,
                      timeout_s=120)
        assert ran.returncode == 0, ran.stderr[-3000:]
        torch_version, uid, curl = ran.stdout.strip().splitlines()[-3:]
        print(f"\nregistry Dockerfile on {BASE}: torch {torch_version}, user tensorjudge uid {uid}, {curl}")
        assert torch_version.startswith("2.13.0") and uid == "10001" and curl.startswith("curl ")
    finally:
        _docker("image", "rm", "-f", tag)
