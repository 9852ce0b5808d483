"""Which GPU a sandboxed run gets: `gpu_slots_per_device` runs at a time on each of the
worker's devices, counted across every process on the host (a Celery prefork pool is several
processes), with one lock file per slot. A lock dies with its process, so a killed worker
never keeps a slot. A run with no CUDA case gets no GPU at all."""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import InfrastructureError
from core.settings import Settings

SLOTS_DIR = Path("/tmp/tensorjudge-gpu-slots")
POLL_S = 0.05


@contextmanager
def gpu_slot(settings: Settings, needs_gpu: bool, wait_s: float | None = None) -> Iterator[list[int]]:
    """The device indices to hand to this run (one device, or none), held until the block ends.

    Waits for a free slot up to `wait_s` (default: the wall-time cap), then raises
    InfrastructureError (retried like any infrastructure failure)."""
    devices = settings.gpu_indices
    if not needs_gpu or not devices:
        yield []
        return
    SLOTS_DIR.mkdir(mode=0o755, exist_ok=True)
    slots = [(d, k) for d in devices for k in range(settings.gpu_slots_per_device)]
    start = random.randrange(len(slots))  # spread runs over the devices
    order = slots[start:] + slots[:start]
    deadline = time.monotonic() + (settings.wall_time_cap_s if wait_s is None else wait_s)
    while True:
        for device, k in order:
            fd = os.open(SLOTS_DIR / f"gpu{device}-slot{k}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield [device]
            finally:
                os.close(fd)  # releases the lock
            return
        if time.monotonic() > deadline:
            raise InfrastructureError(f"no GPU slot came free on devices {devices}")
        time.sleep(POLL_S)
