"""kombu's Redis transport with one change, for the workers: an acknowledgement that cannot
reach Redis still releases the message inside the worker.

kombu acknowledges a Redis message by deleting it from the `unacked` hash first and only then
forgetting the delivery locally. When Redis is frozen (SIGSTOP, a host swapping) the delete
times out, the delivery is never forgotten, and with a prefetch of one the worker never asks
for another message: it stays idle after Redis is back, while the sweeper's turns pile up
(seen in the Redis-frozen fault test). Here the delivery is forgotten whatever Redis answered,
and the error is raised again so that Celery logs it. The entry left in the `unacked` hash is
restored after the visibility timeout as one more turn, which is a no-op: the submission it
names is final by then (tasks are idempotent by their claim).
"""

from __future__ import annotations

import logging

import redis.exceptions
from kombu.transport import TRANSPORT_ALIASES, _transport_cache, virtual
from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)

_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class QoS(kombu_redis.QoS):
    """Redis acknowledgement that never leaves a delivery held locally."""

    def ack(self, delivery_tag: str) -> None:
        """Delete the message from Redis's unacked index, then forget it here, even when the
        delete could not reach Redis."""
        try:
            self._remove_from_indices(delivery_tag).execute()  # type: ignore[no-untyped-call]
        except _UNREACHABLE:
            log.warning("could not acknowledge message %s in Redis; released here, Redis restores it "
                        "after the visibility timeout (a no-op turn)", delivery_tag)
            virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
            raise
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]


class Channel(kombu_redis.Channel):
    """kombu's Redis channel with the QoS above."""

    QoS = QoS


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with the channel above."""

    Channel = Channel


def register() -> None:
    """Make `redis://` and `rediss://` resolve to this transport in this process (idempotent)."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
        _transport_cache.pop(scheme, None)  # kombu caches what a scheme resolved to
