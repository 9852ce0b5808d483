"""Through the real CLI on the real multi-head-matmul: a submission that hunts for secrets and
the network finds neither, and a flooding one cannot blow up the JSON report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, SUBMISSIONS
from .host import host_roots, stray_files, wait_no_leftovers

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
CLI = [sys.executable, "-m", "cli.main"] if not (REPO / ".venv/bin/tensorjudge").exists() else [
    str(REPO / ".venv/bin/tensorjudge")]


def _cli_grade(problem: str, source: Path, data_dir: Path, canary: str,
               backend: str) -> tuple[dict, str, float]:
    env = {**os.environ, "TENSORJUDGE_DATA_DIR": str(data_dir), "TENSORJUDGE_SANDBOX": backend,
           "TENSORJUDGE_CANARY": canary}
    start = time.monotonic()
    proc = subprocess.run([*CLI, "grade", problem, str(source), "--json"], cwd=REPO, env=env,
                          capture_output=True, timeout=600)
    wall = time.monotonic() - start
    out = proc.stdout.decode(errors="replace")
    return json.loads(out), out + proc.stderr.decode(errors="replace"), wall


def test_snoop_finds_no_canary_no_host_files_no_loopback(
    tmp_path: Path, canary: str, canary_file: Path, backend_kind: str
) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    source = (SUBMISSIONS / "snoop.py").read_text()
    source = source.replace("{{PORT}}", str(port)).replace("{{CANARY_FILE}}", str(canary_file))
    sub = tmp_path / "snoop_solution.py"
    sub.write_text(source)
    data_dir = tmp_path / "data"
    try:
        report, everything, wall_s = _cli_grade("multi-head-matmul", sub, data_dir, canary,
                                                   backend_kind)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    assert report["verdict"] == "runtime_error"
    assert all(c["verdict"] == "runtime_error" for c in report["cases"])
    public = next(c for c in report["cases"] if c["visibility"] == "public")
    assert "Address family not supported" in public["message"] or "errno 97" in public["message"]
    assert "connected (" not in everything
    assert canary not in everything
    assert len(everything) < 1 << 20
    assert wall_s < 300
    assert wait_no_leftovers(data_dir) == []
    assert stray_files(*host_roots(data_dir)) == []


def test_output_flood_keeps_the_json_small(tmp_path: Path, mini: object, canary: str,
                                           backend_kind: str) -> None:
    problem_dir = Path(mini.path)  # type: ignore[attr-defined]
    report, everything, wall_s = _cli_grade(str(problem_dir), SUBMISSIONS / "output_flood.py",
                                            tmp_path / "data", canary, backend_kind)
    assert report["verdict"] == "output_limit_exceeded"
    assert len(everything) < 1 << 20
    assert wall_s < 120
