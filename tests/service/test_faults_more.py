"""More faults in the middle of a burst, against real Postgres, Redis, Celery worker and API
processes: the API process SIGKILLed several times while clients keep submitting (retrying with
the same Idempotency-Key, as the CLI does), the API SIGKILLed while Redis is down, Redis frozen
(SIGSTOP) for about 10 s, and Postgres down for about 10 s (the API answers 503 with Retry-After,
never 500). Each test asserts that every accepted submission ends final exactly once and that the
database holds no other row: no duplicate from a retry, no orphan that was stored but never
queued (the Ledger of fault_stack.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from .fault_stack import GOOD, fault_stack
from .helpers import auth
from .workers import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_api_sigkilled_several_times_mid_burst(tmp_path: Path, clean_postgres: str, redis_url: str) -> None:
    n, kills = 30, 4
    with fault_stack(tmp_path, postgres_url=clean_postgres, redis_url=redis_url, worker="a") as stack:
        api = stack.api_process()
        with httpx.Client(base_url=api.url, timeout=10) as client, stack.ledger() as ledger:
            def burst() -> None:
                for i in range(n):
                    ledger.post(client, stack.tokens[i % 5], f"k-{i}")

            sender = threading.Thread(target=burst, daemon=True)
            sender.start()
            for kill_no in range(kills):
                wait_for(lambda k=kill_no: len(ledger.ids) >= 3 + 6 * k, 120,  # type: ignore[misc]
                         f"{3 + 6 * kill_no} accepted submissions")
                api.kill()
                time.sleep(0.5)
                api.start()
            sender.join(180)
            assert not sender.is_alive(), "the burst never finished"
            assert sorted(ledger.ids) == sorted(set(ledger.ids)) and len(ledger.ids) == n
            ledger.assert_all_final_once(180)


def test_api_sigkilled_while_redis_is_down(tmp_path: Path, clean_postgres: str) -> None:
    """Submissions accepted during a Redis outage (stored, 503 with their id), the API SIGKILLed
    mid-outage while requests are in flight and started again, then Redis back: nothing is left
    queued with no turn on the broker, nothing is stored twice."""
    with fault_stack(tmp_path, postgres_url=clean_postgres, worker="rk") as stack:
        assert stack.redis is not None
        api = stack.api_process()
        with httpx.Client(base_url=api.url, timeout=30) as client, stack.ledger() as ledger:
            for i in range(6):
                ledger.post(client, stack.tokens[i % 5], f"before-{i}")
            ledger.wait_final(2)
            stack.redis.stop()
            sent = 0

            def outage_burst() -> None:
                nonlocal sent
                for i in range(12):  # keeps retrying through the kill, with the same key
                    ledger.post(client, stack.tokens[i % 5], f"during-{i}")
                    sent += 1

            sender = threading.Thread(target=outage_burst, daemon=True)
            sender.start()
            for kill_no in range(2):  # killed twice, each time with publishes in flight
                wait_for(lambda k=kill_no: sent >= 2 + 4 * k, 120,  # type: ignore[misc]
                         f"{2 + 4 * kill_no} outage submissions")
                time.sleep(0.3)  # into the next request's publish, which waits on the dead broker
                api.kill()
                time.sleep(0.5)
                api.start()
            sender.join(180)
            assert not sender.is_alive(), "the outage burst never finished"
            assert ledger.statuses.count(503) >= 1 and ledger.cut >= 1  # the kills cut requests
            stack.redis.start()
            for i in range(4):
                ledger.post(client, stack.tokens[i % 5], f"after-{i}")
            ledger.assert_all_final_once(180)
            assert len(ledger.ids) == 6 + 12 + 4


# What a request may take beyond the broker's own timeout (database work, a loaded machine):
# generous, it only tells a bounded wait from a hang.
HANG_MARGIN_S = 5.0


def test_redis_frozen_ten_seconds_mid_burst(tmp_path: Path, clean_postgres: str) -> None:
    """Redis SIGSTOPped: its sockets accept and never answer. No request may hang on it (each
    waits at most broker_publish_timeout_s on the broker), /health says 503 with Retry-After
    while it is frozen, and after SIGCONT every accepted submission ends final exactly once."""
    with fault_stack(tmp_path, postgres_url=clean_postgres, worker="fz") as stack:
        assert stack.redis is not None
        bound_s = stack.settings.broker_publish_timeout_s + HANG_MARGIN_S
        api = stack.api_process()
        with httpx.Client(base_url=api.url, timeout=60) as client, stack.ledger() as ledger:
            for i in range(6):
                ledger.post(client, stack.tokens[i % 5], f"before-{i}")
            ledger.wait_final(2)
            stack.redis.freeze()
            frozen_at = time.monotonic()

            def frozen_burst() -> None:
                for i in range(8):
                    ledger.post(client, stack.tokens[i % 5], f"frozen-{i}")

            sender = threading.Thread(target=frozen_burst, daemon=True)
            sender.start()
            seen: list[tuple[str, int, str | None, float, float]] = []  # what, status, Retry-After, start, took
            while time.monotonic() - frozen_at < 10:
                for what, path in (("health", "/api/v1/health"), ("problems", "/api/v1/problems")):
                    started = time.monotonic()
                    r = client.get(path)
                    seen.append((what, r.status_code, r.headers.get("Retry-After"), started,
                                 time.monotonic() - started))
                time.sleep(0.5)
            stack.redis.thaw()
            thawed_at = time.monotonic()
            sender.join(120)
            assert not sender.is_alive(), "the burst sent while Redis was frozen never finished"
            slowest = max([took for *_, took in seen] + [ledger.slowest_s])
            print(f"\nRedis frozen 10 s: slowest request {slowest:.2f} s (bound {bound_s:g} s)")
            assert slowest <= bound_s, seen
            frozen_health = [(code, retry) for what, code, retry, started, took in seen
                             if what == "health" and started + took < thawed_at]
            assert len(frozen_health) >= 2 and all(code == 503 and retry and retry.isdigit()
                                                   for code, retry in frozen_health), frozen_health
            assert all(code == 200 for what, code, *_ in seen if what == "problems"), seen
            for i in range(4):
                ledger.post(client, stack.tokens[i % 5], f"after-{i}")
            ledger.assert_all_final_once(180)
            assert len(ledger.ids) == 6 + 8 + 4


def _post_once(client: TestClient, token: str, key: str) -> Any:
    return client.post("/api/v1/submissions", data={"problem": "tiny-add"},
                       files=[("files", ("s.py", GOOD))], headers={**auth(token), "Idempotency-Key": key})


def test_postgres_down_ten_seconds_mid_burst(tmp_path: Path, redis_url: str) -> None:
    with fault_stack(tmp_path, redis_url=redis_url, worker="d") as stack, \
            stack.client() as client, stack.ledger() as ledger:
        assert stack.pg is not None
        tokens = stack.tokens
        for i in range(10):
            ledger.post(client, tokens[i % 5], f"before-{i}")
        ledger.wait_final(2)
        stack.pg.stop()
        down_at = time.monotonic()
        refused: list[str] = []
        outage: list[tuple[str, int, str | None, str | None]] = []
        while time.monotonic() - down_at < 10:
            key = f"during-{len(refused)}"
            for what, r in (("submit", _post_once(client, tokens[len(refused) % 5], key)),
                            ("view", client.get(f"/api/v1/submissions/{ledger.ids[0]}", headers=auth(tokens[0]))),
                            ("health", client.get("/api/v1/health"))):
                outage.append((what, r.status_code, r.headers.get("Retry-After"), r.json().get("detail")))
            refused.append(key)
            time.sleep(0.5)
        stack.pg.start()
        assert outage and all(code == 503 for _, code, *_ in outage), outage
        assert all(retry == "5" for _, _, retry, _ in outage), outage
        assert all(detail and "/" not in detail for *_, detail in outage), outage  # no server paths
        for i, key in enumerate(refused):  # the CLI's retry of each refused submission, same key
            ledger.post(client, tokens[i % 5], key)
        for i in range(5):
            ledger.post(client, tokens[i % 5], f"after-{i}")
        ledger.assert_all_final_once(180)
        assert len(ledger.ids) == 15 + len(refused)
