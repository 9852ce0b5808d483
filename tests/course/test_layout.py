"""Where a course repository's files land in the sandbox (no sandbox needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SubmissionError
from core.grading.layout import install_files
from core.problem import Problem, load_problem
from core.services.uploads import UploadLimits, collect_local, normalize_upload
from tests.conftest import FIXTURES
from tests.course.repos import course_repo, tree_files, zip_tree

LIMITS = UploadLimits(max_bytes=8 << 20, max_files=256)
WANT = {"src/__init__.py", "src/functional.py", "src/modeling/__init__.py", "src/modeling/layer.py"}


@pytest.fixture(scope="module")
def pkg() -> Problem:
    return load_problem(FIXTURES / "problems" / "course-pkg")


def test_repository_root_keeps_src_and_leaves_the_rest_out(pkg: Problem, tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo")
    files = normalize_upload(collect_local([repo]), LIMITS)
    assert not any(p.startswith(".git") or "__pycache__" in p for p in files)
    installed = install_files(pkg, files)
    assert set(installed.files) == WANT
    assert installed.single_module is None
    assert any("README.md" in n and "test_toy.py" in n for n in installed.notes)


def test_the_src_folder_itself_is_rerooted(pkg: Problem, tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo")
    installed = install_files(pkg, normalize_upload(collect_local([repo / "src"]), LIMITS))
    assert set(installed.files) == WANT
    assert installed.files["src/modeling/layer.py"] == (repo / "src/modeling/layer.py").read_bytes()


def test_zip_with_an_extra_top_folder(pkg: Problem, tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo")
    files = normalize_upload([("repo.zip", zip_tree(repo, top="llm-assignment-main/"))], LIMITS)
    assert set(install_files(pkg, files).files) == WANT


def test_several_files_keep_their_relative_paths(pkg: Problem, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo = course_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    names = [Path(p) for p in sorted(WANT)]
    uploads = collect_local(names)
    assert sorted(n for n, _ in uploads) == sorted(WANT)  # two __init__.py files stay apart
    assert set(install_files(pkg, normalize_upload(uploads, LIMITS)).files) == WANT


def test_single_file_is_installed_as_the_declared_module(pkg: Problem) -> None:
    installed = install_files(pkg, {"whatever.py": b"x = 1\n"})
    assert installed.single_module == "src.functional"
    assert installed.files == {"src/__init__.py": b"", "src/functional.py": b"x = 1\n"}


def test_no_package_is_a_clear_error(pkg: Problem) -> None:
    with pytest.raises(SubmissionError, match=r"no `src/` package.*src/functional.py"):
        install_files(pkg, {"notes.md": b"hi", "other/thing.py": b""})


def test_hidden_and_cache_files_are_skipped_not_refused(tmp_path: Path) -> None:
    repo = course_repo(tmp_path / "repo", extra={".venv/lib/x.py": "", ".DS_Store": ""})
    files = normalize_upload([("r.zip", zip_tree(repo))], LIMITS)
    assert "src/functional.py" in files and not any(p.startswith(".") for p in files)
    assert set(tree_files(repo)) - set(files) >= {".git/HEAD", ".venv/lib/x.py", ".DS_Store"}


def test_a_repository_of_every_assignment_grades_the_one_that_defines_the_entry_points(
        pkg: Problem, tmp_path: Path) -> None:
    # A0 has only the function; A1 has both the function and the module.
    files = {
        "assignment/A0/src/__init__.py": b"", "assignment/A0/src/functional.py": b"def scale(x, a): ...\n",
        "assignment/A1/src/__init__.py": b"", "assignment/A1/src/functional.py": b"def scale(x, a): ...\n",
        "assignment/A1/src/modeling/__init__.py": b"",
        "assignment/A1/src/modeling/layer.py": b"class Scaler: ...\n",
    }
    installed = install_files(pkg, files)
    assert installed.files["src/modeling/layer.py"] == b"class Scaler: ...\n"
    assert any("assignment/A0/src" in n and "not graded" in n for n in installed.notes)
