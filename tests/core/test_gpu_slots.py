"""GPU slots per device, counted across processes (a prefork pool is several). No GPU is needed:
only the device indices handed to a run are under test here, not CUDA itself."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from core.errors import InfrastructureError
from core.grading.gpu_slots import gpu_slot
from core.settings import Settings

HOLD = """
import sys, time
from core.grading.gpu_slots import gpu_slot
from core.settings import Settings
with gpu_slot(Settings(gpus="{gpus}", gpu_slots_per_device={k}), True) as got:
    print(got[0], flush=True)
    time.sleep(30)
"""


def _holder(gpus: str, k: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(gpus=gpus, k=k)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def test_runs_without_cuda_cases_get_no_gpu() -> None:
    with gpu_slot(Settings(gpus="0,1"), False) as got:
        assert got == []
    with gpu_slot(Settings(gpus=""), True) as got:
        assert got == []


def test_a_slot_held_by_another_process_is_not_handed_out_and_frees_when_it_dies() -> None:
    proc, held = _holder("7,8", 1)
    try:
        settings = Settings(gpus="7,8", gpu_slots_per_device=1)
        with gpu_slot(settings, True) as got:
            assert got == [15 - held]  # the other device
            with pytest.raises(InfrastructureError), gpu_slot(settings, True, wait_s=0.3):
                pass  # both devices' one slot are taken
    finally:
        _stop(proc)
    t0 = time.monotonic()
    with gpu_slot(Settings(gpus="7,8"), True, wait_s=5) as got:  # the dead process's lock is gone
        assert got in ([7], [8])
    assert time.monotonic() - t0 < 5


def test_two_slots_per_device_share_it() -> None:
    proc, held = _holder("9", 2)
    try:
        with gpu_slot(Settings(gpus="9", gpu_slots_per_device=2), True, wait_s=1) as got:
            assert got == [9] == [held]
    finally:
        _stop(proc)


def test_concurrency_fills_the_gpu_slots() -> None:
    assert Settings(gpus="0,1,2,3", gpu_slots_per_device=3, worker_concurrency=0).concurrency >= 12
    assert Settings(gpus="0,1", worker_concurrency=5).concurrency == 5
