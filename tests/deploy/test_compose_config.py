"""What `docker-compose config` resolves the stack's files to, for the parts that cannot run
here: the optional Flower service (profile "monitoring") and the GPU worker (profile "gpu",
no GPU on this machine). Needs only the compose binary, no engine and no images.

Compose v1 (Debian's docker-compose 1.29) lists every service in `config`, whatever profiles
are active; v2 lists only the active ones. Either way a service with a profile is one that
`up` leaves alone unless that profile is asked for, which is what is checked here; the stack
test (test_compose_stack.py) starts Flower for real."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import REPO_ROOT
from tests.deploy.compose import COMPOSE_FILES, compose_command

COMPOSE = compose_command()
pytestmark = pytest.mark.skipif(COMPOSE is None, reason="neither `docker compose` nor `docker-compose` is installed")

DEFAULT_SERVICES = {"api", "worker-cpu", "postgres", "redis"}
REQUIRED = {"TENSORJUDGE_SECRET_KEY": "s" * 32, "POSTGRES_PASSWORD": "p" * 16,
            "TENSORJUDGE_HOST_DATA_DIR": "/var/tmp/tj-config-test"}


def _config(tmp_path: Path, *profiles: str, **env: str) -> dict[str, Any]:
    """The resolved compose model for the repository's files, the given profiles and .env values."""
    assert COMPOSE is not None
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**REQUIRED, **env}.items()))
    cmd = [*COMPOSE, "-p", "tjconfigtest", "--project-directory", str(REPO_ROOT), "--env-file", str(env_file)]
    for name in COMPOSE_FILES:
        cmd += ["-f", str(REPO_ROOT / name)]
    for profile in profiles:
        cmd += ["--profile", profile]
    done = subprocess.run([*cmd, "config"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def _started_by_default(model: dict[str, Any], *profiles: str) -> set[str]:
    """The services `up` starts: those without profiles, and those of an active profile."""
    return {name for name, svc in model["services"].items()
            if not svc.get("profiles") or set(svc["profiles"]) & set(profiles)}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_flower_is_optional_behind_the_monitoring_profile(tmp_path: Path) -> None:
    default = _config(tmp_path)
    assert _started_by_default(default) == DEFAULT_SERVICES
    assert default["services"]["flower"]["profiles"] == ["monitoring"]
    monitoring = _config(tmp_path, "monitoring")
    assert _started_by_default(monitoring, "monitoring") == DEFAULT_SERVICES | {"flower"}
    print("\nwithout a profile:", sorted(_started_by_default(default)),
          "\nwith --profile monitoring:", sorted(_started_by_default(monitoring, "monitoring")))


def test_flower_takes_basic_auth_from_the_env_and_binds_loopback(tmp_path: Path) -> None:
    flower = _config(tmp_path, "monitoring")["services"]["flower"]
    assert _env(flower)["FLOWER_BASIC_AUTH"] == ""  # unset: the command refuses to start
    command = " ".join(flower["command"]) if isinstance(flower["command"], list) else flower["command"]
    assert "flower" in command and "--basic-auth" in command and "exit 1" in command
    [port] = flower["ports"]
    published = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
    assert published.startswith("127.0.0.1:5555"), port
    configured = _config(tmp_path, "monitoring", TENSORJUDGE_FLOWER_BASIC_AUTH="ops:a-long-password",
                         TENSORJUDGE_FLOWER_BIND="10.0.0.5", TENSORJUDGE_FLOWER_PORT="5600")
    flower = configured["services"]["flower"]
    assert _env(flower)["FLOWER_BASIC_AUTH"] == "ops:a-long-password"
    [port] = flower["ports"]
    published = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}"
    assert published.startswith("10.0.0.5:5600"), port
    assert _env(flower)["TENSORJUDGE_BROKER_URL"] == "redis://redis:6379/0"  # the workers' broker


def test_gpu_worker_resolves_with_its_device_reservation_and_env(tmp_path: Path) -> None:
    default = _config(tmp_path)
    assert "worker-gpu" not in _started_by_default(default)
    model = _config(tmp_path, "gpu", TENSORJUDGE_GPUS="0,1", TENSORJUDGE_GPU_SLOTS_PER_DEVICE="2")
    assert _started_by_default(model, "gpu") == DEFAULT_SERVICES | {"worker-gpu"}
    gpu = model["services"]["worker-gpu"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == "all"
    env = _env(gpu)
    assert env["TENSORJUDGE_WORKER_QUEUES"] == "gpu" and "-Q gpu" in gpu["command"]
    assert env["TENSORJUDGE_GPUS"] == "0,1" and env["TENSORJUDGE_GPU_SLOTS_PER_DEVICE"] == "2"
    assert env["TENSORJUDGE_SANDBOX"] == "docker" and env["TENSORJUDGE_SANDBOX_IMAGE"]
    # (v1 writes "source:target:mode", v2 a mapping)
    mounts = {tuple(v.split(":")[:2]) if isinstance(v, str) else (v.get("source"), v.get("target"))
              for v in gpu["volumes"]}
    assert ("/var/run/docker.sock", "/var/run/docker.sock") in mounts, mounts  # sandboxes via the host's engine
    assert any(target == "/tmp/tensorjudge-gpu-slots" and str(source).endswith("gpuslots")
               for source, target in mounts), mounts  # slot locks shared by replicas
    # Defaults: device 0, one run at a time on it.
    env = _env(_config(tmp_path, "gpu")["services"]["worker-gpu"])
    assert env["TENSORJUDGE_GPUS"] == "0" and env["TENSORJUDGE_GPU_SLOTS_PER_DEVICE"] == "1"
