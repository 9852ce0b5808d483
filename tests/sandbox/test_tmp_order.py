"""The sandbox's command line and limits: /tmp before binds, RLIMIT_AS measured from a baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.backends import process
from sandbox.backends.base import RunSpec
from tests.sandbox.jobs import empty_job


def test_tmpfs_comes_before_binds_under_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(process, "_python_roots", lambda: ["/tmp/clone/.venv", "/root/.pyenv/x"])
    box = process.ProcessSandbox(uid=0)
    if not box.bwrap:
        box.bwrap = "/usr/bin/bwrap"  # argv building needs only a path
    spec = RunSpec(job=empty_job(), driver=b"", files={}, work_root=tmp_path, wall_time_s=1,
                   memory_mb=64, output_bytes=1)
    argv = box.argv(spec, tmp_path, 3)
    tmpfs_at = argv.index("--tmpfs")
    assert argv[tmpfs_at + 1] == "/tmp"
    bind_at = next(i for i, a in enumerate(argv) if a == "--ro-bind" and argv[i + 2] == "/tmp/clone/.venv")
    assert tmpfs_at < bind_at


def test_address_space_allowance_sits_on_top_of_what_is_mapped() -> None:
    """A CUDA build of torch maps GiBs at import; the case's RLIMIT_AS must be measured above
    that baseline (an absolute limit starved every CPU case on a GPU worker: seen on an H100)."""
    import mmap

    from sandbox.harness.child import _mapped_bytes

    before = _mapped_bytes()
    assert before > 0
    reserve = mmap.mmap(-1, 4 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ)
    try:
        assert _mapped_bytes() - before >= 4 << 30
    finally:
        reserve.close()
    assert _mapped_bytes() - before < 1 << 30
