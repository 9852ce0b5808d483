"""Each bundled course problem graded from a course-layout repository of our own, through the
CLI as a student runs it: the problem's reference placed at the course's paths, a noisy
package __init__ (an unfinished sibling module with a dependency the judge lacks), README and
tests next to it. Every one must load and score full marks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.problem import load_problem
from core.settings import REPO_ROOT, Settings
from tests.course.repos import UNFINISHED

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
PROBLEMS = REPO_ROOT / "problems"


def _layout(slug: str, reference: str) -> tuple[dict[str, str], dict[str, str]]:
    """(files, expected `graded`) of a course repository holding our reference for `slug`."""
    noisy = "from .attention import *  # noqa: F403\n"
    common = {"README.md": "# assignment\n", "test_toy.py": "from ref import nothing\n",
              "src/modeling/attention.py": UNFINISHED}
    if slug == "importance-matmul":
        return {**common, "src/__init__.py": "from .functional import matmul_with_importance\n"
                "from .modeling import *  # noqa: F403\n",
                "src/functional.py": reference, "src/modeling/__init__.py": noisy}, \
            {"matmul_with_importance": "src/functional.py:matmul_with_importance"}
    if slug == "rope":
        return {**common, "src/__init__.py": "from .functional import apply_rotary_pos_emb\n",
                "src/functional.py": reference,
                "src/modeling/__init__.py": "from .pos_emb import NTKAwareRoPE\n" + noisy,
                "src/modeling/pos_emb.py": "from ..functional import NTKAwareRoPE  # noqa: F401\n"}, \
            {"apply_rotary_pos_emb": "src/functional.py:apply_rotary_pos_emb",
             "NTKAwareRoPE": "src/modeling/pos_emb.py:NTKAwareRoPE"}
    if slug == "manual-linear":
        return {**common, "src/__init__.py": "from .modeling import *  # noqa: F403\n",
                "src/demo.py": reference, "src/modeling/__init__.py": noisy}, \
            {"ManualLinear": "src/demo.py:ManualLinear"}
    raise AssertionError(slug)


@pytest.mark.parametrize("slug", ["importance-matmul", "rope", "manual-linear"])
def test_course_repository_of_the_reference_scores_full_marks(
        slug: str, grading_settings: Settings, tmp_path: Path) -> None:
    problem = load_problem(PROBLEMS / slug)
    if not problem.config.package_roots:
        pytest.fail(f"{slug} does not grade the course's src/ layout")
    files, graded = _layout(slug, (problem.path / "reference.py").read_text())
    for rel, text in files.items():
        (tmp_path / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / rel).write_text(text)
    env = {"TENSORJUDGE_DATA_DIR": str(grading_settings.data_dir), "TENSORJUDGE_SANDBOX": "process",
           "TENSORJUDGE_SECRET_KEY": "test-secret-not-for-production", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "cli.main", "grade", slug, ".", "--json"], cwd=tmp_path / "repo",
                         capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO_ROOT)}, timeout=600)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"] == "accepted", [(c["name"], c["verdict"], c["message"]) for c in report["cases"]]
    assert report["score"] == report["max_score"]
    assert report["graded"] == graded
    assert any("README.md" in n for n in report["notes"])
