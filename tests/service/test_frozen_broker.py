"""A frozen Redis (SIGSTOP: connections accepted, nothing answered), real redis-server:
the API's dispatcher gives up on a publish or a ping within broker_publish_timeout_s instead of
hanging, and the worker's transport releases a delivery whose acknowledgement could not reach
Redis (kombu's own keeps it and the worker never asks for another message)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from api.dispatch import BrokerTimeout, CeleryDispatcher
from core.services import redis_transport
from core.services.submissions import Job

from .fault_servers import RestartableRedis
from .helpers import make_settings

pytestmark = [pytest.mark.redis]

MARGIN_S = 5.0  # generous: tells a bounded wait from a hang, never a speed target


@pytest.fixture
def broker() -> Iterator[RestartableRedis]:
    """A Redis of this test's own, thawed and removed at the end whatever happened."""
    server = RestartableRedis()
    server.start()
    try:
        yield server
    finally:
        server.thaw()
        server.close()


def test_publish_and_ping_give_up_on_a_frozen_redis(tmp_path: Path, broker: RestartableRedis) -> None:
    settings = make_settings(tmp_path / "data", broker_url=broker.url)
    settings.broker_publish_timeout_s = 1.0
    dispatcher = CeleryDispatcher(settings)
    job = Job(submission_id=1, job=1, queue="cpu")
    dispatcher.enqueue(job)  # a connection in the pool, as in a running API
    assert dispatcher.ping()
    broker.freeze()
    calls: list[Callable[[], None]] = [lambda: dispatcher.enqueue(job), lambda: dispatcher.validate(1, "cpu")]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(BrokerTimeout, match="did not answer within 1 s"):
            call()
        took = time.monotonic() - started
        print(f"\npublish to a frozen Redis gave up after {took:.2f} s")
        assert took <= settings.broker_publish_timeout_s + MARGIN_S
    started = time.monotonic()
    assert dispatcher.ping() is False
    assert time.monotonic() - started <= settings.broker_publish_timeout_s + MARGIN_S
    broker.thaw()
    deadline = time.monotonic() + 30
    while not dispatcher.ping():  # the pool's cut connections are replaced
        assert time.monotonic() < deadline, "the broker never answered again after SIGCONT"
        time.sleep(0.2)
    dispatcher.enqueue(job)


def test_worker_transport_releases_a_delivery_it_could_not_ack(broker: RestartableRedis) -> None:
    redis_transport.register()
    queue = Queue("acktest", Exchange("acktest", type="direct"), routing_key="acktest")  # type: ignore[no-untyped-call]
    with Connection(broker.url, transport_options={"socket_timeout": 1}) as conn:  # type: ignore[no-untyped-call]
        assert isinstance(conn.transport, redis_transport.Transport)
        channel = conn.channel()
        channel.basic_qos(prefetch_count=1)
        producer = conn.Producer(channel)
        producer.publish({"n": 1}, exchange=queue.exchange, routing_key="acktest", declare=[queue])
        message = queue(channel).get(no_ack=False)  # type: ignore[no-untyped-call]
        assert message is not None and not channel.qos.can_consume()
        broker.freeze()
        with pytest.raises(Exception, match=r"(?i)timeout|timed out"):
            message.ack()
        assert channel.qos.can_consume(), "the delivery is still held: the worker would never fetch again"
