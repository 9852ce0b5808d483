"""The one settings object. Nothing else in TensorJudge reads the environment."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "please-change-me"}


class Settings(BaseSettings):
    """Configuration, read from TENSORJUDGE_* environment variables."""

    # The environment only: no .env is read from the current folder (the compose file's .env is
    # for docker compose; a command run next to it must not pick up production settings).
    model_config = SettingsConfigDict(env_prefix="TENSORJUDGE_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    data_dir: Path = REPO_ROOT / "var"
    problems_dir: Path = REPO_ROOT / "problems"
    secret_key: str = ""
    database_url: str = ""  # empty: sqlite file in data_dir
    broker_url: str = ""  # empty: the embedded broker (filesystem transport in data_dir)
    result_backend_url: str = ""

    sandbox: Literal["process", "docker", "auto"] = "auto"
    sandbox_image: str = "tensorjudge-sandbox:latest"
    sandbox_runtime: str = ""  # e.g. "runsc" for gVisor with the docker backend
    sandbox_uid: int = 65534
    # Process sandboxes started ahead per shape of run (torch already imported, nothing handed
    # to them yet), so a submission does not wait for Python and torch to start; 0: none.
    sandbox_warm: int = Field(default=2, ge=0, le=16)
    # Process backend: warm sandboxes are zygotes (each serves many runs, every run forked into
    # isolation of its own) where cgroups allow; false keeps them single-use.
    sandbox_zygote: bool = True
    gpus: str = ""  # comma-separated CUDA device indices this worker may hand to sandboxes
    # Runs at once on each of those devices (a run with CUDA cases holds one device).
    gpu_slots_per_device: int = Field(default=1, ge=1, le=16)
    wall_time_cap_s: float = 300.0  # hard ceiling over any problem's limits.wall_time_s

    # Grades at once per worker; 0: fit the machine (half its cores, at least 2, at most 8), so
    # that one submission stuck to the wall cap does not hold everyone else.
    worker_concurrency: int = Field(default=0, ge=0, le=64)
    worker_queues: str = "cpu"
    task_max_retries: int = 3
    task_retry_backoff_s: float = 5.0
    task_max_attempts: int = 6  # deliveries (incl. redeliveries after a lost worker) per job
    broker_visibility_timeout_s: float = 3600.0  # redis: unacked messages come back after this
    # The longest an API request waits on the broker (a publish or the health check's ping),
    # retries included: a Redis that is down or frozen costs a request this much, then a 503.
    broker_publish_timeout_s: float = Field(default=3.0, gt=0, le=60)
    sse_poll_interval_s: float = 0.5
    # The submission life cycle (docs/operations.md): a newer queued submission of a student
    # to a problem supersedes the older queued one; worker processes beat every
    # heartbeat_interval_s and a claim whose holder has not beaten for heartbeat_timeout_s is
    # released; the sweeper (one owner at a time, by lease) runs every sweep_interval_s and
    # re-sends queued work nobody has picked up for republish_after_s.
    queue_supersede: bool = True
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    heartbeat_timeout_s: float = Field(default=15.0, gt=0)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    republish_after_s: float = Field(default=30.0, gt=0)
    db_retry_attempts: int = Field(default=8, ge=1)  # per worker step, on transient DB errors
    log_json: bool = False  # one JSON object per log line (with the submission id in the worker)
    grader: str = "core.grading:grade"  # module:function the worker grades with

    login_max_failures: int = Field(default=10, ge=1)  # per name and client, within the window
    login_window_s: int = Field(default=300, ge=1)

    # A course student's whole repository (README, tests, notebooks) fits; non-Python files
    # are left out when it is graded.
    max_upload_mb: float = 8.0
    max_upload_files: int = 256
    stdout_shown_kb: int = 8

    # Trial runs (public cases only, not counted): at most this many per user in the window.
    trial_runs_per_window: int = Field(default=10, ge=1)
    trial_window_s: int = Field(default=600, ge=1)
    # Roster invites: how long a one-time link that sets a first password stays valid.
    invite_valid_days: int = Field(default=14, ge=1, le=365)

    # Where `tensorjudge login` keeps the server and token: $XDG_CONFIG_HOME/tensorjudge,
    # else ~/.config/tensorjudge (the XDG base-directory convention).
    xdg_config_home: str = Field(default="", validation_alias="XDG_CONFIG_HOME")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        if self.env == "production" and self.secret_key.strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("TENSORJUDGE_SECRET_KEY must be set to a real secret in production")
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'tensorjudge.db'}"

    @property
    def cli_config_file(self) -> Path:
        """The CLI's credentials file (server and token), written by `tensorjudge login`."""
        base = Path(self.xdg_config_home) if self.xdg_config_home else Path.home() / ".config"
        return base / "tensorjudge" / "credentials.json"

    @property
    def gpu_indices(self) -> list[int]:
        """CUDA device indices handed to sandboxes; empty on CPU-only workers."""
        return [int(x) for x in self.gpus.split(",") if x.strip()]

    @property
    def concurrency(self) -> int:
        """worker_concurrency, with 0 resolved for this machine."""
        if self.worker_concurrency:
            return self.worker_concurrency
        cpu = min(8, max(2, (os.cpu_count() or 2) // 2))
        # A GPU worker fills every GPU slot (CPU-only runs beside them take the CPU share).
        return max(cpu, len(self.gpu_indices) * self.gpu_slots_per_device)

    def resolved_secret(self) -> str:
        """The grading secret; in dev a random one is generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests construct their own Settings instead)."""
    return Settings()
