"""Package validation in the background of the web process (it can take minutes)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from core.services.web_packages import Validator, run_validation
from core.settings import Settings


class BackgroundValidations:
    """One worker thread that validates staged versions one after another. Tests may set
    `validator` to stand in for core.grading.validate."""

    def __init__(self, validator: Validator | None = None) -> None:
        self.validator = validator
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tj-validate")
        self._lock = threading.Lock()
        self._pending: dict[int, Future[None]] = {}

    def start(self, settings: Settings, version_id: int) -> None:
        """Queue a validation of `version_id` unless one is already queued or running."""
        with self._lock:
            current = self._pending.get(version_id)
            if current is not None and not current.done():
                return
            self._pending[version_id] = self._pool.submit(
                run_validation, settings, version_id, self.validator
            )

    def is_active(self, version_id: int) -> bool:
        """Whether this process is validating (or about to validate) `version_id`."""
        with self._lock:
            current = self._pending.get(version_id)
            return current is not None and not current.done()
