"""The embedded broker's transport: kombu's filesystem transport with atomic publishing.

kombu's own filesystem transport creates a message file and then writes it, and its consumer
moves and reads files without the writer's lock, so a worker polling at the wrong moment reads
an empty message, fails to decode it and stops (seen under load: the message is lost and its
submission waits forever). Here a message is written under a name the consumer ignores and
renamed into place, which is atomic: the consumer sees whole messages or none. Registered as
the `tjfs://` transport by `register()` (the API's dispatcher and the worker call it).
"""

from __future__ import annotations

import itertools
import os
import uuid
from time import monotonic_ns
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "tjfs"


_SEQUENCE = itertools.count()


class Channel(filesystem.Channel):
    """Publishes each message by writing a temporary file and renaming it into the queue."""

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # Names sort in publishing order (the consumer takes them sorted): nanoseconds, zero-padded,
        # then this process's count for two messages in one tick; milliseconds alone let two
        # messages of one millisecond come out in the order of their random suffix.
        name = f"{monotonic_ns():020d}_{next(_SEQUENCE):010d}_{uuid.uuid4().hex[:8]}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")  # not a `<queue>.msg` name
        try:
            with open(partial, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))  # type: ignore[no-untyped-call]
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to the queue folder") from exc


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the atomic Channel."""

    Channel = Channel


def register() -> None:
    """Make `tjfs://` resolve to this transport (idempotent)."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
