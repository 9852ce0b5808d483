"""Faults in the middle of a burst, against real Postgres, Redis and Celery worker processes:
the worker's whole process group SIGKILLed, Redis restarted with and without persistence,
Postgres restarted. Each test asserts that every accepted submission ends final exactly once (one
verdict, one set of case results, a finish time that never changes), that the database holds no
other row, and that the API never answered 5xx other than 503 (the Ledger of fault_stack.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .fault_stack import fault_stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_worker_process_group_sigkilled_mid_burst(tmp_path: Path, clean_postgres: str, redis_url: str) -> None:
    with fault_stack(tmp_path, postgres_url=clean_postgres, redis_url=redis_url, worker="k0") as stack, \
            stack.client() as client, stack.ledger() as ledger:
        for i in range(20):
            ledger.post(client, stack.tokens[i % 5], f"burst-{i}")
        for round_no, done in enumerate((3, 8), start=1):
            ledger.wait_final(done)
            stack.kill_worker()
            time.sleep(1)
            stack.start_worker(f"k{round_no}")
        ledger.assert_all_final_once(180)


@pytest.mark.parametrize("appendonly", [False, True], ids=["no-persistence", "appendonly"])
def test_redis_restarted_mid_burst(tmp_path: Path, clean_postgres: str, appendonly: bool) -> None:
    with fault_stack(tmp_path, postgres_url=clean_postgres, appendonly=appendonly) as stack, \
            stack.client() as client, stack.ledger() as ledger:
        assert stack.redis is not None
        for i in range(10):
            ledger.post(client, stack.tokens[i % 5], f"before-{i}")
        ledger.wait_final(2)
        stack.redis.stop()  # without persistence every queued message is lost with it
        for i in range(4):
            ledger.post(client, stack.tokens[i % 5], f"during-{i}")  # stored, answered 503
        time.sleep(2)
        stack.redis.start()
        for i in range(6):
            ledger.post(client, stack.tokens[i % 5], f"after-{i}")
        ledger.assert_all_final_once(180)
        assert ledger.statuses.count(503) >= 1


def test_postgres_restarted_mid_burst(tmp_path: Path, redis_url: str) -> None:
    with fault_stack(tmp_path, redis_url=redis_url, worker="p") as stack, \
            stack.client() as client, stack.ledger() as ledger:
        assert stack.pg is not None
        for i in range(8):
            ledger.post(client, stack.tokens[i % 5], f"a-{i}")
        for restart in range(2):
            ledger.wait_final(2 + 4 * restart)
            stack.pg.restart()
            for i in range(6):
                ledger.post(client, stack.tokens[i % 5], f"b{restart}-{i}")
        ledger.assert_all_final_once(180)
