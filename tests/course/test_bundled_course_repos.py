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


# ---- the attention and transformer problems: one whole student repository ------------------

WHOLE = ["offline-sliding-window-attn", "online-sliding-window-attn", "transformer-kv-cache",
         "transformer-decoder-layer", "transformer-decoder-block"]


def _whole_repository(root: Path, replace: dict[str, bytes] | None = None) -> Path:
    """A course repository with every assignment done: our references at the course's paths
    (the transformer problems' support tree is exactly that), README and tests next to it."""
    tree = load_problem(PROBLEMS / "transformer-decoder-block")
    files = {**tree.support_files(), "src/modeling/transformer.py": (tree.path / "reference.py").read_bytes(),
             "README.md": b"# my LLM course repository\n", "tests/test_toy.py": b"from ref import nothing\n",
             **(replace or {})}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _cli_grade(slug: str, repo: Path, settings: Settings) -> dict:  # type: ignore[type-arg]
    env = {"TENSORJUDGE_DATA_DIR": str(settings.data_dir), "TENSORJUDGE_SANDBOX": "process",
           "TENSORJUDGE_SECRET_KEY": "test-secret-not-for-production", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-m", "cli.main", "grade", slug, ".", "--json"], cwd=repo,
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.stdout, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("slug", WHOLE)
def test_a_whole_course_repository_scores_full_marks(slug: str, grading_settings: Settings, tmp_path: Path) -> None:
    """Graded as a student submits it: no support tree, the student's own modules only."""
    report = _cli_grade(slug, _whole_repository(tmp_path / "repo"), grading_settings)
    assert report["verdict"] == "accepted", [(c["name"], c["verdict"], c["message"]) for c in report["cases"]]
    assert report["score"] == report["max_score"]
    assert any("README.md" in n for n in report["notes"])
    assert not any("on its own" in n for n in report["notes"])


def test_a_wrong_rope_in_the_repository_is_named_by_the_decoder_layer(grading_settings: Settings,
                                                                      tmp_path: Path) -> None:
    broken = PROBLEMS / "transformer-decoder-layer" / "solutions" / "wrong_answer" / "own_rope_sign_flipped"
    replace = {f.relative_to(broken).as_posix(): f.read_bytes() for f in broken.rglob("*.py")
               if f.name != "transformer.py"}
    assert replace, "the folder solution with the student's own wrong RoPE is gone"
    report = _cli_grade("transformer-decoder-layer", _whole_repository(tmp_path / "repo", replace), grading_settings)
    assert report["verdict"] == "wrong_answer"
    assert any("src/modeling/pos_emb.py also gives wrong results on its own" in n and "`rope`" in n
               for n in report["notes"]), report["notes"]
