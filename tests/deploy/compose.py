"""A docker-compose project of the real stack for one test module: the repository's
docker-compose.yml plus docker-compose.offline.yml, under a unique project name, on a random
loopback port, with its own data folder, always torn down (containers, volumes, the sandbox
containers its workers started, the data folder)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from core.settings import REPO_ROOT

T = TypeVar("T")
IMAGE = os.environ.get("TJ_STACK_IMAGE", "tensorjudge:latest")
SANDBOX_IMAGE = os.environ.get("TENSORJUDGE_SANDBOX_IMAGE", "tensorjudge-sandbox:latest")
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-stack-images-offline.sh"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.offline.yml")


def _ok(cmd: list[str], timeout_s: float = 30) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout_s).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) or `docker-compose` (Debian's), whichever runs."""
    if shutil.which("docker") and _ok(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose") and _ok(["docker-compose", "version"]):
        return ["docker-compose"]
    return None


def why_not_runnable() -> str | None:
    """Why the stack cannot run here (None: it can): no engine, no compose, no way to the images."""
    if not shutil.which("docker") or not _ok(["docker", "info"]):
        return "no Docker engine answers (scripts/docker-engine.sh up starts one as root)"
    if compose_command() is None:
        return "neither `docker compose` nor `docker-compose` is installed (Debian: apt-get install docker-compose)"
    can_build = os.geteuid() == 0 and shutil.which("debootstrap") is not None
    have = all(_ok(["docker", "image", "inspect", name]) for name in (IMAGE, SANDBOX_IMAGE))
    if not can_build and not have:
        return f"no {IMAGE} / {SANDBOX_IMAGE} and no way to build them (root and debootstrap)"
    return None


def build_images() -> None:
    """Bring the images up to date with the working tree (a key comparison when they are);
    without root and debootstrap, use the images already there."""
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        return
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=3000)
    if done.returncode != 0:
        raise RuntimeError(f"building the stack images failed:\n{(done.stdout + done.stderr)[-3000:]}")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.5) -> T:
    """Poll check() until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a service still starting refuses connections
            last_error = f" (last error: {exc!r})"
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{last_error}")


@dataclass
class Stack:
    """One compose project; `settings` are extra variables for the compose files."""

    settings: dict[str, str] = field(default_factory=dict)
    project: str = field(default_factory=lambda: f"tjtest{secrets.token_hex(4)}")
    port: int = field(default_factory=free_port)
    compose: list[str] = field(default_factory=lambda: compose_command() or ["docker-compose"])
    worker_hosts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # A host folder at the same path in the containers: sandbox containers bind job folders
        # from it through the host's daemon, so it is not under pytest's private tmp.
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{self.project}-", dir="/var/tmp"))
        self.data_dir.chmod(0o755)
        self.env_file = self.data_dir.parent / f"{self.data_dir.name}.env"
        values = {
            "TENSORJUDGE_SECRET_KEY": secrets.token_hex(32),
            "POSTGRES_PASSWORD": secrets.token_hex(16),
            "TENSORJUDGE_HOST_DATA_DIR": str(self.data_dir),
            "TENSORJUDGE_IMAGE": IMAGE,
            "TENSORJUDGE_SANDBOX_IMAGE": SANDBOX_IMAGE,
            "TENSORJUDGE_BIND": "127.0.0.1",
            "TENSORJUDGE_PORT": str(self.port),
            **self.settings,
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))

    @property
    def url(self) -> str:
        """The API's address on this machine."""
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, timeout_s: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One compose command for this project."""
        cmd = [*self.compose, "-p", self.project, "--project-directory", str(REPO_ROOT),
               "--env-file", str(self.env_file)]
        for name in COMPOSE_FILES:
            cmd += ["-f", str(REPO_ROOT / name)]
        done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout_s)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done

    def containers(self, service: str) -> list[str]:
        """Ids of the service's running containers (and remembers workers' hostnames)."""
        ids = self.run("ps", "-q", service).stdout.split()
        if service.startswith("worker"):
            for cid in ids:
                self.worker_hosts.add(cid[:12])
        return ids

    def create_user(self, name: str, role: str) -> str:
        """A user made with the CLI inside the api container; returns its API token."""
        out = self.run("exec", "-T", "api", "tensorjudge", "admin", "create-user", name, "--role", role).stdout
        return out.strip().splitlines()[-1]

    def sandbox_containers(self, exited_too: bool = False) -> dict[str, str]:
        """Sandbox containers started by this stack's workers (running ones, unless
        exited_too): id -> worker hostname."""
        listing = ["docker", "ps", "-q", "--filter", "label=tensorjudge.owner"] + (["-a"] if exited_too else [])
        out = subprocess.run(listing, capture_output=True, text=True, timeout=30).stdout.split()
        if not out:
            return {}
        details = json.loads(subprocess.run(["docker", "inspect", *out], capture_output=True, text=True,
                                            timeout=30).stdout or "[]")
        found = {}
        for d in details:
            # The owner label is host:pid:start-time (sandbox/backends/docker.py).
            host = (d["Config"]["Labels"] or {}).get("tensorjudge.owner", "").split(":")[0]
            if host in self.worker_hosts:
                found[d["Id"]] = host
        return found

    def logs(self, tail: int = 40) -> str:
        """The last lines of every service's log, for a failure message."""
        return self.run("logs", "--no-color", "--tail", str(tail), check=False, timeout_s=60).stdout[-6000:]

    def up(self, timeout_s: float = 600) -> None:
        """Start every service (not the gpu profile) and wait until the API answers healthy."""
        self.run("up", "-d", timeout_s=timeout_s)
        self.containers("worker-cpu")

    def down(self) -> None:
        """Remove containers, networks and volumes; then sandbox containers left by killed
        workers and the data folder."""
        try:
            self.containers("worker-cpu")
        except (AssertionError, subprocess.TimeoutExpired):
            pass
        self.run("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout_s=300)
        leftovers = list(self.sandbox_containers(exited_too=True))
        if leftovers:
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, timeout=120)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.env_file.unlink(missing_ok=True)
