"""The Celery application. Run: celery -A worker.celery_app worker -Q cpu (or gpu)."""

from __future__ import annotations

from celery import Celery

from core.services import fs_transport
from core.services.broker import celery_config
from core.settings import get_settings


def make_celery() -> Celery:
    """A Celery app configured from the TensorJudge settings."""
    settings = get_settings()
    fs_transport.register()
    app = Celery("tensorjudge", include=["worker.tasks"])
    app.conf.update(celery_config(settings))
    return app


app = make_celery()
