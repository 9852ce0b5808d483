"""Logging: the submission id on every line a worker writes while grading, and JSON lines
when settings.log_json is on (one object per line: time, level, logger, message,
submission_id, and the exception when there is one)."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from core.settings import Settings

_submission: contextvars.ContextVar[int | None] = contextvars.ContextVar("tensorjudge_submission", default=None)


def bind_submission(submission_id: int | None) -> contextvars.Token[int | None]:
    """Tag the log lines of this thread (and the threads it starts) with a submission id."""
    return _submission.set(submission_id)


def unbind_submission(token: contextvars.Token[int | None]) -> None:
    """Undo bind_submission."""
    _submission.reset(token)


def current_submission() -> int | None:
    """The submission id the current log lines are tagged with."""
    return _submission.get()


class SubmissionFilter(logging.Filter):
    """Adds `submission_id` (or None) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        if not hasattr(record, "submission_id"):
            record.submission_id = _submission.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        body = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "submission_id": getattr(record, "submission_id", _submission.get()),
            "process": record.process,
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [submission %(submission_id)s] %(message)s"


def install(handlers: list[logging.Handler], settings: Settings) -> None:
    """Put the submission filter (and the JSON formatter, if configured) on `handlers`."""
    for handler in handlers:
        if not any(isinstance(f, SubmissionFilter) for f in handler.filters):
            handler.addFilter(SubmissionFilter())
        handler.setFormatter(JsonFormatter() if settings.log_json else logging.Formatter(TEXT_FORMAT))


def configure(settings: Settings, level: int = logging.INFO) -> None:
    """Configure the root logger for a TensorJudge process (serve, the worker)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    install(root.handlers, settings)
