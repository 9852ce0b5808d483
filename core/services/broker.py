"""Broker and task configuration shared by the API (which enqueues) and the worker.

Plain data only: core never imports Celery. The embedded default uses kombu's filesystem
transport in data_dir/broker, so `tensorjudge serve` needs no Redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.settings import Settings

GRADE_TASK = "tensorjudge.grade"
VALIDATE_TASK = "tensorjudge.validate"
QUEUES = ("cpu", "gpu")


def broker_url(settings: Settings) -> str:
    """The configured broker, or the embedded filesystem broker (`tjfs://`: kombu's filesystem
    transport with atomic publishing, core/services/fs_transport.py)."""
    return settings.broker_url or "tjfs://"


def is_embedded(settings: Settings) -> bool:
    """Whether the broker is the embedded filesystem transport."""
    return broker_url(settings).startswith(("tjfs://", "filesystem://"))


def broker_dirs(settings: Settings) -> tuple[Path, Path]:
    """(queue folder, processed folder) of the embedded broker."""
    root = settings.data_dir / "broker"
    return root / "queue", root / "processed"


def transport_options(settings: Settings) -> dict[str, Any]:
    """Transport options for kombu: folders for the embedded broker, visibility for Redis."""
    if is_embedded(settings):
        queue, processed = broker_dirs(settings)
        # kombu keeps exchange bindings in `control_folder`, relative to the cwd by default.
        control = settings.data_dir / "broker" / "control"
        for folder in (queue, processed, control):
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "control_folder": str(control),
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "store_processed": False,
            # A waiting worker lists one small folder this often: the latency it adds to every
            # submission of the embedded default (half of it on average) against a few dozen
            # directory reads a second.
            "polling_interval": 0.05,
        }
    timeout = settings.broker_visibility_timeout_s
    return {
        "visibility_timeout": timeout,
        # A Redis that is down or frozen answers within seconds instead of hanging a request
        # (above the worker's 1 s BRPOP poll, so idle reads never time out).
        "socket_timeout": 10,
        "socket_connect_timeout": 3,
        # How often a worker sweeps for messages whose consumer died (SIGKILL, lost machine);
        # a sweep only restores messages unacked for longer than the visibility timeout.
        "unacked_restore_interval": max(1, min(10, int(timeout / 3))),
        "unacked_restore_throttle": 1 if timeout < 60 else 10,
    }


def task_time_limits_s(settings: Settings) -> tuple[float, float]:
    """(soft, hard) limits for one grading task: above the sandbox wall-clock cap, which
    bounds the reference run and the submission run, plus room for loading and writing."""
    soft = 2 * settings.wall_time_cap_s + 60
    return soft, soft + 30


def visibility_problem(settings: Settings) -> str | None:
    """Why the Redis visibility timeout is unsafe with these limits, or None. A message is
    handed to a second worker once it has been unacknowledged that long, so it must outlast
    the longest grading task (a duplicate turn grades nothing twice, but costs a slot);
    a worker lost mid-grade is handled by the heartbeats in seconds, not by this timeout."""
    if is_embedded(settings):
        return None
    _, hard = task_time_limits_s(settings)
    if settings.broker_visibility_timeout_s < hard:
        return (f"broker_visibility_timeout_s={settings.broker_visibility_timeout_s:g} is below the grading "
                f"task's hard limit of {hard:g} s (2 x wall_time_cap_s + 90): set it above that")
    return None


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings (lowercase names) for both the producer and the worker."""
    soft, hard = task_time_limits_s(settings)
    return {
        "broker_url": broker_url(settings),
        "broker_transport_options": transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "result_backend": settings.result_backend_url or None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "cpu",
        "task_default_exchange": "cpu",
        "task_default_routing_key": "cpu",
        # One direct exchange per queue, declared the same way by the API and the workers.
        "task_queues": {name: {"exchange": name, "exchange_type": "direct", "routing_key": name} for name in QUEUES},
        "task_soft_time_limit": soft,
        "task_time_limit": hard,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_concurrency": settings.concurrency,
        "worker_send_task_events": False,
    }


def queue_for(needs_gpu: bool) -> str:
    """The queue a problem's submissions go to."""
    return "gpu" if needs_gpu else "cpu"
