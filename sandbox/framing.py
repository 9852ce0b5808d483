"""Framing of the harness's channels: one type byte, a 4-byte big-endian length, the payload.

b"J" frames carry one JSON object; b"T" frames carry safetensors bytes. What the messages mean
is sandbox/protocol.py's business; this module only cuts the byte stream into frames.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct("!cI")
JSON = b"J"
TENSORS = b"T"
MAX_JSON_BYTES = 4 << 20


class ProtocolError(Exception):
    """A frame or message was malformed, out of sequence, or over its size cap."""


class FrameTooLarge(ProtocolError):
    """A frame announced more bytes than its cap allows."""


def encode(kind: bytes, payload: bytes) -> bytes:
    """One frame."""
    return HEADER.pack(kind, len(payload)) + payload


def encode_json(obj: dict[str, Any]) -> bytes:
    """A JSON frame."""
    return encode(JSON, json.dumps(obj, separators=(",", ":")).encode())


WIDE_PIPE_BYTES = 1 << 20  # Linux's default cap for an unprivileged process


def wide_pipe() -> tuple[int, int]:
    """os.pipe() with a 1 MiB buffer where the kernel allows it (64 KiB otherwise): a case's
    tensors (megabytes) then cross in a few dozen writes, not a few hundred."""
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, WIDE_PIPE_BYTES)
    except OSError:
        pass  # over the user's pipe-buffer allowance: the default size works, more slowly
    return r, w


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of data to a (blocking) file descriptor."""
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_parts(fd: int, *parts: bytes | bytearray | memoryview) -> None:
    """write_all() of the parts one after another, without joining them first (a tensor frame
    is megabytes: no copy of it is made here)."""
    for part in parts:
        write_all(fd, part)


BIG_READ_BYTES = 1 << 20


def read_exact(fd: int, n: int, wait: Callable[[int], None] | None = None) -> bytes | bytearray | None:
    """Read exactly n bytes; None on EOF before the first byte, ProtocolError on a short read.
    Over BIG_READ_BYTES they come as one bytearray, read into place (a tensor frame: no join
    copy; sandbox.tensors.load() makes tensors that are views of it).

    `wait(fd)` is called before each read; it may block until fd is readable or raise to abort.
    """
    if n > BIG_READ_BYTES:
        return _read_into(fd, n, wait)
    chunks: list[bytes] = []
    got = 0
    while got < n:
        if wait is not None:
            wait(fd)
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            if got == 0:
                return None
            raise ProtocolError("stream ended inside a frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_into(fd: int, n: int, wait: Callable[[int], None] | None) -> bytearray | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if wait is not None:
            wait(fd)
        k = os.readv(fd, [view[got:]])
        if not k:
            if got == 0:
                return None
            raise ProtocolError("stream ended inside a frame")
        got += k
    return buf


def read_frame(
    fd: int, max_bytes: int, wait: Callable[[int], None] | None = None
) -> tuple[bytes, bytes | bytearray] | None:
    """Read one frame, refusing payloads over max_bytes (JSON frames are capped separately)."""
    head = read_exact(fd, HEADER.size, wait)
    if head is None:
        return None
    kind, length = HEADER.unpack(head)
    if kind not in (JSON, TENSORS):
        raise ProtocolError(f"unknown frame type {kind!r}")
    cap = MAX_JSON_BYTES if kind == JSON else max_bytes
    if length > cap:
        raise FrameTooLarge(f"frame of {length} bytes is over the cap of {cap}")
    payload = read_exact(fd, length, wait) if length else b""
    if payload is None:
        raise ProtocolError("stream ended inside a frame")
    return kind, payload
