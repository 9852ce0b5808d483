"""The life-cycle thread: a worker process's heartbeat, and the sweep for whoever holds the
sweeper's lease (core/services/sweeper.py). Runs in every worker process and in `serve`."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from core.services import sweeper
from core.services.dbretry import is_transient, with_session
from core.settings import Settings

log = logging.getLogger(__name__)


def new_identity() -> str:
    """A name for this process: host:pid:random (a restarted pid gets a new name)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class LifeCycleThread(threading.Thread):
    """Beats every heartbeat_interval_s (when `queues` is set: a grading slot) and sweeps every
    sweep_interval_s while it holds the lease. A sweep waits until the database has answered
    for heartbeat_timeout_s in a row, so that after an outage live workers have beaten again
    before anyone's claim is judged dead."""

    def __init__(
        self,
        settings: Settings,
        publish: sweeper.Publish,
        *,
        identity: str | None = None,
        queues: str | None = None,
        busy: Callable[[], int | None] = lambda: None,
        sandbox: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        super().__init__(name="tensorjudge-lifecycle", daemon=True)
        self.settings = settings
        self.publish = publish
        self.identity = identity or new_identity()
        self.queues = queues
        self.busy = busy
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._db_ok_since: float | None = None
        self.sweeps = 0

    def run(self) -> None:
        """Loop until stop()."""
        url = self.settings.effective_database_url
        next_sweep = time.monotonic()
        while not self.stopping.is_set():
            try:
                if self.queues is not None:
                    self._beat(url)
                now = time.monotonic()
                self._db_ok_since = self._db_ok_since or now
                if now >= next_sweep:
                    next_sweep = now + self.settings.sweep_interval_s
                    if now - self._db_ok_since >= self.settings.heartbeat_timeout_s:
                        self._sweep_if_owner(url)
            except Exception as exc:  # the thread must outlive any outage
                self._db_ok_since = None
                if is_transient(exc) or (isinstance(exc.__cause__, Exception) and is_transient(exc.__cause__)):
                    log.warning("life cycle: database unavailable (%s)", exc.__class__.__name__)
                else:
                    log.exception("life cycle: unexpected error")
            self.stopping.wait(self.settings.heartbeat_interval_s if self.queues is not None
                               else min(self.settings.heartbeat_interval_s, self.settings.sweep_interval_s))

    def _beat(self, url: str) -> None:
        info = self.sandbox()
        with_session(url, lambda s: sweeper.beat(
            s, self.identity, host=socket.gethostname(), pid=os.getpid(), queues=self.queues or "",
            busy=self.busy(), sandbox=str(info.get("backend", "")), sandbox_uid=info.get("uid"),
        ), attempts=1, what="heartbeat")

    def _sweep_if_owner(self, url: str) -> None:
        ttl = 3 * self.settings.sweep_interval_s + self.settings.heartbeat_interval_s
        owner = with_session(url, lambda s: sweeper.acquire_lease(s, sweeper.SWEEPER_LEASE, self.identity, ttl),
                             attempts=1, what="sweeper lease")
        if owner:
            with_session(url, lambda s: sweeper.sweep(s, self.settings, self.publish), attempts=1, what="sweep")
            self.sweeps += 1

    def stop(self, forget: bool = True) -> None:
        """Stop the loop; `forget` removes the heartbeat row (a clean shutdown)."""
        self.stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            # A beat in flight would write the row back after we forget it (seen in CI).
            self.join(timeout=10)
        if forget and self.queues is not None:
            try:
                with_session(self.settings.effective_database_url,
                             lambda s: sweeper.forget(s, self.identity), attempts=1, what="heartbeat")
            except Exception:  # noqa: BLE001 - the row just ages out
                pass
