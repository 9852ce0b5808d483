"""A course repository graded as it stands, in the real sandbox: relative imports, noisy
package __init__ files, and the feedback naming the file and symbol that were graded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.grading import grade
from core.problem import Problem, load_problem
from core.services.uploads import UploadLimits, collect_local, normalize_upload
from core.settings import Settings
from core.verdicts import Verdict
from tests.conftest import FIXTURES
from tests.course.repos import course_repo, zip_tree

pytestmark = pytest.mark.sandbox
LIMITS = UploadLimits(max_bytes=8 << 20, max_files=256)
PKG = FIXTURES / "problems" / "course-pkg"


@pytest.fixture(scope="module")
def pkg() -> Problem:
    return load_problem(PKG)


def _grade_dir(pkg: Problem, settings: Settings, root: Path):  # type: ignore[no-untyped-def]
    return grade(pkg, normalize_upload(collect_local([root]), LIMITS), settings=settings)


def test_clean_repository_is_accepted_and_names_what_was_graded(
        pkg: Problem, grading_settings: Settings, tmp_path: Path) -> None:
    report = _grade_dir(pkg, grading_settings, course_repo(tmp_path / "repo"))
    assert report.verdict is Verdict.ACCEPTED, report
    assert report.graded == {"scale": "src/functional.py:scale", "Scaler": "src/modeling/layer.py:Scaler"}
    assert any("README.md" in n for n in report.notes)


def test_noisy_init_does_not_break_the_graded_modules(
        pkg: Problem, grading_settings: Settings, tmp_path: Path) -> None:
    report = _grade_dir(pkg, grading_settings, course_repo(tmp_path / "repo", noisy=True))
    assert report.verdict is Verdict.ACCEPTED, report
    notes = " ".join(report.notes)
    assert "graded on its own" in notes and "not_a_package_of_this_environment" in notes
    assert "/tmp" not in notes and str(tmp_path) not in notes


def test_a_broken_graded_module_is_a_compile_error_with_its_traceback(
        pkg: Problem, grading_settings: Settings, tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo", extra={"src/modeling/layer.py": "from ..functional import nope\n"})
    report = _grade_dir(pkg, grading_settings, repo)
    assert report.verdict is Verdict.COMPILE_ERROR
    assert "src/modeling/layer.py" in report.message and "nope" in report.message


def test_symbol_reexported_by_the_package_init_is_found(
        pkg: Problem, grading_settings: Settings, tmp_path: Path) -> None:
    # The function lives in another module and only the package's __init__ exports it.
    repo = course_repo(tmp_path / "repo", extra={
        "src/functional.py": "X = 1\n",
        "src/impl.py": "def scale(x, alpha):\n    return x * alpha\n",
        "src/__init__.py": "from .impl import scale\n",
        "src/modeling/layer.py": "import torch\nfrom .. import scale\n\n\nclass Scaler(torch.nn.Module):\n"
                                 "    def __init__(self, a):\n        super().__init__()\n        self.a = a\n\n"
                                 "    def forward(self, x):\n        return scale(x, self.a)\n",
    })
    report = _grade_dir(pkg, grading_settings, repo)
    assert report.verdict is Verdict.ACCEPTED, report
    assert report.graded["scale"] == "src/__init__.py:scale"


def test_cli_grades_a_zip_and_a_folder(grading_settings: Settings, tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo", noisy=True)
    archive = tmp_path / "repo.zip"
    archive.write_bytes(zip_tree(repo, top="assignment-main/"))
    env = {"TENSORJUDGE_DATA_DIR": str(grading_settings.data_dir), "TENSORJUDGE_SANDBOX": "process",
           "TENSORJUDGE_SECRET_KEY": "test-secret-not-for-production", "PATH": "/usr/bin:/bin"}
    for target in (archive, repo / "src"):
        out = subprocess.run([sys.executable, "-m", "cli.main", "grade", str(PKG), str(target), "--json"],
                             capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).parents[2])
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["verdict"] == "accepted" and report["score"] == report["max_score"] == 2
        assert report["graded"]["Scaler"] == "src/modeling/layer.py:Scaler"


def test_course_environment_packages_load_in_the_sandbox(
        pkg: Problem, grading_settings: Settings, tmp_path: Path) -> None:
    # The course's template modules import these at module level (its requirements.txt).
    header = ("import einops  # noqa: F401\nimport tqdm  # noqa: F401\n"
              "from transformers import PretrainedConfig  # noqa: F401\n")
    repo = course_repo(tmp_path / "repo", extra={
        "src/modeling/__init__.py": header + "from .layer import Scaler\n",
    })
    report = _grade_dir(pkg, grading_settings, repo)
    assert report.verdict is Verdict.ACCEPTED, report
    assert not any("graded on its own" in n for n in report.notes), report.notes
