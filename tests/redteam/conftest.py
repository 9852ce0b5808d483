"""Red-team fixtures: small variants of multi-head-matmul (its real driver and reference, fewer
cases and tight limits, so each hostile run stays fast on two slow cores), real Settings on a
temporary data dir, the real process sandbox, and canaries planted in the grader's environment
and in $HOME."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.problem import Problem, load_problem
from core.settings import Settings
from sandbox.backends.process import ProcessSandbox

REPO = Path(__file__).resolve().parents[2]
MHM = REPO / "problems" / "multi-head-matmul"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"

_HEAD = """slug = "{slug}"
title = "Multi-head matmul (red-team variant)"
module = "solution"
entry_points = ["solution:matmul_with_multi_head"]

[limits]
wall_time_s = 40
case_time_s = {case_time_s}
memory_mb = 256
output_mb = 4
stdout_kb = 16
tmp_mb = 16

[timing]
budget_ratio = 20.0
warmup = 1
repeats = 3

[tolerance.float32]
atol = 1e-4
rtol = 1e-4

[[cases]]
name = "small"
visibility = "public"
points = 1
seed = 11
dtype = "float32"
device = "cpu"
params = {{ b = 2, s = 3, h = 8, e = 4, num_heads = 2 }}
"""
_TIMED = """
[[cases]]
name = "timed"
visibility = "public"
points = 1
seed = 111
dtype = "float32"
device = "cpu"
timed = true
params = { b = 4, s = 64, h = 512, e = 256, num_heads = 4 }
"""


def _variant(root: Path, slug: str, timed: bool) -> Problem:
    path = root / slug
    path.mkdir(parents=True)
    for name in ("driver.py", "reference.py", "starter.py", "statement.md"):
        shutil.copyfile(MHM / name, path / name)
    # The timed case needs room for warm-up and repeats on a loaded two-core machine.
    head = _HEAD.format(slug=slug, case_time_s=15 if timed else 4)
    (path / "problem.toml").write_text(head + (_TIMED if timed else ""))
    return load_problem(path)


def sandbox_ok() -> tuple[bool, str]:
    """Whether the real process sandbox works on this host."""
    return ProcessSandbox().available()


requires_sandbox = pytest.mark.skipif(not sandbox_ok()[0], reason="process sandbox unusable here")


@pytest.fixture(scope="session")
def problems_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("redteam-problems")


@pytest.fixture(scope="session")
def mini(problems_root: Path) -> Problem:
    """multi-head-matmul with one small public case."""
    return _variant(problems_root, "mhm-mini", timed=False)


@pytest.fixture(scope="session")
def mini_timed(problems_root: Path) -> Problem:
    """multi-head-matmul with one small case and the timed case."""
    return _variant(problems_root, "mhm-timed", timed=True)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Real settings on a temporary data dir (shared, so the reference cache is reused)."""
    data = tmp_path_factory.mktemp("redteam-data")
    return Settings(data_dir=data, sandbox="process", env="test", secret_key="redteam-secret-" + "x" * 20)


@pytest.fixture(scope="session")
def canary() -> Iterator[str]:
    """A secret in the grader's environment and in a file in $HOME; must never leak."""
    value = "TJCANARY" + secrets.token_hex(12)
    home_file = Path.home() / f".tensorjudge-canary-{secrets.token_hex(4)}"
    home_file.write_text(value)
    old = os.environ.get("TENSORJUDGE_CANARY")
    os.environ["TENSORJUDGE_CANARY"] = value
    try:
        yield value
    finally:
        home_file.unlink(missing_ok=True)
        if old is None:
            os.environ.pop("TENSORJUDGE_CANARY", None)
        else:
            os.environ["TENSORJUDGE_CANARY"] = old


@pytest.fixture(scope="session")
def canary_file(canary: str) -> Path:
    """The $HOME file holding the canary."""
    return next(p for p in Path.home().glob(".tensorjudge-canary-*") if p.read_text() == canary)
