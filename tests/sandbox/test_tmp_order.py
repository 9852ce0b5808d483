"""A checkout or venv under the host's /tmp must stay visible: /tmp's tmpfs is mounted first."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.backends import process
from sandbox.backends.base import RunSpec


def test_tmpfs_comes_before_binds_under_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(process, "_python_roots", lambda: ["/tmp/clone/.venv", "/root/.pyenv/x"])
    box = process.ProcessSandbox(uid=0)
    if not box.bwrap:
        box.bwrap = "/usr/bin/bwrap"  # argv building needs only a path
    argv = box.argv(RunSpec(job_dir=tmp_path, wall_time_s=1, memory_mb=64, output_bytes=1), 3)
    tmpfs_at = argv.index("--tmpfs")
    assert argv[tmpfs_at + 1] == "/tmp"
    bind_at = next(i for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 2] == "/tmp/clone/.venv")
    assert tmpfs_at < bind_at
