"""Multi-module problems: the package's support/ tree beneath the reference and the known
solutions (never beneath a student's upload), solutions that are folders, diagnostics that
name a student's own module when it is what broke, and bundled packages that share a file by
symlink. The grading tests run in the real sandbox; the assembly ones use the fake backend."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch

from core.grading import grade
from core.grading.layout import install_files
from core.grading.validate import validate
from core.problem import Problem, load_problem, solution_files
from core.services.problems import pack_directory
from core.settings import Settings
from core.verdicts import Verdict
from sandbox.protocol import CaseResult, CaseSpec, Job
from tests.conftest import FIXTURES
from tests.core.fake_backend import FakeBackend, ok

PKG = FIXTURES / "problems" / "layer-pkg"
LAYER = (PKG / "reference.py").read_bytes()


@pytest.fixture(scope="module")
def pkg() -> Problem:
    return load_problem(PKG)


def test_support_goes_beneath_and_the_submission_wins(pkg: Problem) -> None:
    support = pkg.support_files()
    assert sorted(support) == ["src/__init__.py", "src/functional.py", "src/modeling/__init__.py"]
    single = install_files(pkg, {"layer.py": LAYER}, support)
    assert single.single_module == "src.modeling.layer"
    assert single.files["src/modeling/layer.py"] == LAYER and single.files["src/functional.py"] == support[
        "src/functional.py"]
    own = b"def scale(x, alpha):\n    return alpha * x\n"
    tree = install_files(pkg, {"src/modeling/layer.py": LAYER, "src/functional.py": own}, support)
    assert tree.files["src/functional.py"] == own and tree.files["src/__init__.py"] == b""
    # a student's upload gets nothing of the judge's
    assert "src/functional.py" not in install_files(pkg, {"layer.py": LAYER}).files


def test_folder_solutions_are_listed_as_trees(pkg: Problem) -> None:
    found = {(exp, p.relative_to(PKG).as_posix()) for exp, p in pkg.solutions()}
    assert ("accepted", "solutions/accepted/own_tree") in found
    assert ("wrong_answer", "solutions/wrong_answer/off_by_one.py") in found
    assert sorted(solution_files(PKG / "solutions/accepted/own_tree")) == [
        "src/functional.py", "src/modeling/layer.py"]


@pytest.mark.sandbox
def test_validate_runs_the_reference_and_every_solution_with_support(pkg: Problem, grading_settings: Settings
                                                                     ) -> None:
    report = validate(pkg, settings=grading_settings)
    assert report.ok, report.errors
    got = {s.file: s.verdict for s in report.solutions}
    assert got == {"solutions/accepted/one_file.py": "accepted", "solutions/accepted/own_tree": "accepted",
                   "solutions/wrong_answer/broken_functional": "wrong_answer",
                   "solutions/wrong_answer/off_by_one.py": "wrong_answer"}


@pytest.mark.sandbox
def test_a_broken_dependency_is_named_and_a_missing_one_is_explained(pkg: Problem, grading_settings: Settings
                                                                      ) -> None:
    broken = solution_files(PKG / "solutions/wrong_answer/broken_functional")
    report = grade(pkg, broken, settings=grading_settings)
    assert report.verdict is Verdict.WRONG_ANSWER
    assert any("scale in src/functional.py also gives wrong results on its own" in n
               and "`course-pkg`" in n for n in report.notes), report.notes
    # the layer's own mistake with a right function: no such note
    off = grade(pkg, {"src/modeling/layer.py": (PKG / "solutions/wrong_answer/off_by_one.py").read_bytes(),
                      "src/functional.py": b"def scale(x, alpha):\n    return x * alpha\n"},
                settings=grading_settings)
    assert off.verdict is Verdict.WRONG_ANSWER and not any("on its own" in n for n in off.notes)
    # one file that imports a module of the student's own it did not send
    alone = grade(pkg, {"layer.py": LAYER}, settings=grading_settings)
    assert alone.verdict is Verdict.COMPILE_ERROR
    assert "has no src/functional.py" in alone.message and "whole `src/` package" in alone.message


def _script(sub_y: float, sub_part: float):  # type: ignore[no-untyped-def]
    def answer(job: Job, case: CaseSpec) -> CaseResult:
        x = torch.ones(3, dtype=torch.float64)
        if job.mode == "reference":
            return ok(case, {"y": x, "part": x.clone()})
        return ok(case, {"y": x * sub_y, "part": x * sub_part})
    return answer


@pytest.mark.parametrize(("y", "part", "verdict", "noted"), [
    (2.0, 2.0, Verdict.WRONG_ANSWER, True),   # the layer is wrong and so is the student's function
    (2.0, 1.0, Verdict.WRONG_ANSWER, False),  # the layer's own mistake
    (1.0, 2.0, Verdict.ACCEPTED, False),      # a diagnostic never changes a verdict
])
def test_diagnostics_never_decide_a_verdict(pkg: Problem, tmp_path: Path, y: float, part: float,
                                            verdict: Verdict, noted: bool) -> None:
    settings = Settings(env="test", data_dir=tmp_path, secret_key="diag", sandbox="process")
    report = grade(pkg, {"layer.py": LAYER}, settings=settings, backend=FakeBackend(_script(y, part)))
    assert report.verdict is verdict
    assert any("on its own" in n for n in report.notes) is noted


def test_pack_keeps_links_to_sibling_packages_only(tmp_path: Path) -> None:
    root = tmp_path / "problems"
    (root / "other").mkdir(parents=True)
    (root / "other" / "reference.py").write_text("SHARED = 1\n")
    (tmp_path / "secret.txt").write_text("outside\n")
    pkg = root / "mine"
    (pkg / "support").mkdir(parents=True)
    (pkg / "reference.py").write_text("MINE = 1\n")
    (pkg / "support" / "shared.py").symlink_to("../../other/reference.py")
    (pkg / "support" / "leak.py").symlink_to("../../../secret.txt")
    with tarfile.open(fileobj=io.BytesIO(pack_directory(pkg)), mode="r:gz") as tf:
        names = tf.getnames()
        assert tf.extractfile("support/shared.py").read() == b"SHARED = 1\n"  # type: ignore[union-attr]
    assert "support/leak.py" not in names and "reference.py" in names
