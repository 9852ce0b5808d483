"""The embedded broker's transport publishes whole messages only: while a message is being
written, no consumer can see it under a queue name (kombu's own filesystem transport creates
the `.msg` file before writing it; a worker that read it then crashed and the message was lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kombu import Connection

from core.services import fs_transport


def _channel(tmp_path: Path, url: str):  # type: ignore[no-untyped-def]
    folder = tmp_path / "queue"
    folder.mkdir()
    (tmp_path / "control").mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder),
               "control_folder": str(tmp_path / "control"), "store_processed": False}
    conn = Connection(url, transport_options=options)
    return conn, conn.channel(), folder


def test_a_message_is_visible_only_once_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs_transport.register()
    conn, channel, folder = _channel(tmp_path, "tjfs://")
    seen_while_writing: list[list[str]] = []
    real = fs_transport.str_to_bytes

    def writing(text: str) -> bytes:  # called with the message, just before its bytes are written
        seen_while_writing.append(sorted(p.name for p in folder.glob("*.msg")))
        return real(text)

    monkeypatch.setattr(fs_transport, "str_to_bytes", writing)
    try:
        channel._put("cpu", {"n": 1})
        channel._put("cpu", {"n": 2})
    finally:
        conn.release()
    first, second = seen_while_writing
    assert first == [] and len(second) == 1  # the one being written is never among them
    messages = sorted(folder.glob("*.msg"))
    assert [json.loads(p.read_bytes())["n"] for p in messages] == [1, 2]
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".cpu.msg")] == []  # nothing partial left
