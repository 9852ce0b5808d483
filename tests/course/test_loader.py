"""The submission loader in-process (it runs inside the sandbox; here on our own files)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.harness.loader import CompileFailure, load_submission
from tests.course.repos import course_repo

ENTRIES = ["src.functional:scale|src:scale", "src.modeling.layer:Scaler|src.modeling:Scaler"]
SHARED = "import enum\n\n\nclass Kind(enum.Enum):\n    A = 1\n"


@pytest.fixture(autouse=True)
def _clean_modules() -> Iterator[None]:
    before = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    sys.path[:] = path


def test_noisy_init_entry_points_share_one_copy_of_their_modules(tmp_path: Path) -> None:
    # Scaler's module uses the enum from functional.py; the graded enum must be that same class.
    repo = course_repo(tmp_path / "repo", noisy=True, extra={
        "src/functional.py": SHARED + "\n\ndef scale(x, alpha):\n    return x * alpha\n",
        "src/modeling/layer.py": "from ..functional import Kind\n\n\nclass Scaler:\n    kind = Kind.A\n",
    })
    loaded = load_submission(str(repo), [*ENTRIES, "src.functional:Kind"])
    ns = loaded.namespace
    assert ns.Scaler.kind is ns.Kind.A
    assert ns.Scaler.__module__ == "src.modeling.layer"
    assert any("graded on its own" in n and "not_a_package_of_this_environment" in n for n in loaded.notes)


def test_clean_repository_runs_the_package_init_files(tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo")
    loaded = load_submission(str(repo), ENTRIES)
    assert loaded.notes == [] and sys.modules["src"].__file__.endswith("src/__init__.py")  # type: ignore[union-attr]


def test_a_broken_graded_module_is_reported_not_worked_around(tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo", noisy=True, extra={"src/functional.py": "def scale(:\n"})
    with pytest.raises(CompileFailure, match=r"SyntaxError|invalid syntax"):
        load_submission(str(repo), ENTRIES)
