"""Red-team fixtures: small variants of multi-head-matmul (its real driver and reference, fewer
cases and tight limits, so each hostile run stays fast on two slow cores), real Settings on a
temporary data dir, each real backend in turn (the process sandbox, and the docker backend where a
real engine runs), and canaries planted in the grader's environment and in $HOME."""

from __future__ import annotations

import functools
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


# The red team attacks every real backend this host has: the process sandbox always, and the
# docker backend where an engine answers with the sandbox image (make test starts one as root).
BACKENDS = ["process", "docker"]


@functools.cache
def sandbox_ok(kind: str) -> tuple[bool, str]:
    """Whether that real sandbox works on this host."""
    if kind == "docker":
        from sandbox.backends.docker import DockerSandbox

        return DockerSandbox(Settings(_env_file=None).sandbox_image).available()
    return ProcessSandbox().available()


@pytest.fixture(scope="session", params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; skipped, saying why, where it is unusable."""
    kind = str(request.param)
    ok, why = sandbox_ok(kind)
    if not ok:
        pytest.skip(f"{kind} sandbox unusable here: {why}")
    return kind


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
def settings(tmp_path_factory: pytest.TempPathFactory, backend_kind: str) -> Settings:
    """Real settings on a temporary data dir (shared, so the reference cache is reused)."""
    data = tmp_path_factory.mktemp("redteam-data")
    return Settings(data_dir=data, sandbox=backend_kind, env="test",  # type: ignore[arg-type]
                    secret_key="redteam-secret-" + "x" * 20)


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
