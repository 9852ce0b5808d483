"""Which leftover sandbox containers a docker backend removes at start: those whose owner label
names a process of this host that is gone, including a pid now reused by another process (a
restarted worker container numbers its processes from 1 again). No engine needed: the labels
are what is under test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from sandbox.backends.docker import _OWNER, _orphan, _started


def test_owner_labels_name_a_live_process_by_pid_and_start_time() -> None:
    host = socket.gethostname()
    me = os.getpid()
    assert _OWNER == f"{host}:{me}:{_started(me)}" and _started(me)
    assert not _orphan(_OWNER, host)
    assert _orphan(f"{host}:{me}:1", host)  # same pid, another start time: a reused pid
    assert not _orphan(f"other-host:{me}:{_started(me)}", host)  # another host's: left alone
    assert not _orphan(f"{host}:{me}", host)  # an older label (no start time), live pid
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert _orphan(f"{host}:{dead.pid}:{_started(me)}", host)
    assert _orphan(f"{host}:{dead.pid}", host)
    assert not _orphan("garbage", host)
