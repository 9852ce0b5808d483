"""The Celery application. Run: celery -A worker.celery_app worker -Q cpu (or gpu)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from core.logs import install as install_log_format
from core.services import fs_transport, redis_transport
from core.services.broker import celery_config
from core.settings import get_settings


def make_celery() -> Celery:
    """A Celery app configured from the TensorJudge settings."""
    settings = get_settings()
    fs_transport.register()
    redis_transport.register()  # acks that cannot reach Redis never wedge the worker
    app = Celery("tensorjudge", include=["worker.tasks"])
    app.conf.update(celery_config(settings))
    return app


app = make_celery()


@signals.after_setup_logger.connect  # type: ignore[untyped-decorator]
@signals.after_setup_task_logger.connect  # type: ignore[untyped-decorator]
def _log_format(logger: logging.Logger | None = None, **_: Any) -> None:
    # Every worker line carries the submission id being graded (JSON with log_json).
    if logger is not None:
        install_log_format(logger.handlers, get_settings())


import worker.lifecycle  # noqa: E402, F401  (heartbeats and the sweeper: signal handlers)
