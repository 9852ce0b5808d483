"""Problem package loading: valid packages load, broken ones name the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ProblemError
from core.problem import Problem, discover_problems, load_problem, resolve_problem
from core.settings import REPO_ROOT
from tests.conftest import FIXTURES


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "vec-scale"
    shutil.copytree(FIXTURES / "problems" / "vec-scale", dst)
    return dst


def test_fixture_loads_with_cases_and_rules(vec_scale: Problem) -> None:
    assert vec_scale.slug == "vec-scale"
    assert [c.name for c in vec_scale.public_cases] == ["small"]
    assert vec_scale.max_score == 3
    assert vec_scale.config.rules.forbidden_calls == ["torch.mul"]
    assert len(vec_scale.content_hash) == 16


def test_bad_field_names_file_and_field(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    toml.write_text(toml.read_text().replace('visibility = "public"', 'visibility = "secret"'))
    with pytest.raises(ProblemError) as err:
        load_problem(pkg)
    assert "problem.toml" in str(err.value)
    assert "cases.0.visibility" in str(err.value)


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    toml.write_text(toml.read_text().replace("[limits]", "[limits]\nwall_time_ms = 5"))
    with pytest.raises(ProblemError, match=r"limits\.wall_time_ms"):
        load_problem(pkg)


def test_broken_toml_and_missing_files(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    (pkg / "problem.toml").write_text("slug = [unclosed")
    with pytest.raises(ProblemError, match="not valid TOML"):
        load_problem(pkg)
    pkg2 = _copy(tmp_path / "b")
    (pkg2 / "driver.py").unlink()
    with pytest.raises(ProblemError, match=r"missing driver\.py"):
        load_problem(pkg2)


def test_driver_syntax_error_is_a_problem_error(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    (pkg / "driver.py").write_text("def run(:\n")
    with pytest.raises(ProblemError, match=r"driver\.py: line 1"):
        load_problem(pkg)


def test_duplicate_case_names(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    toml.write_text(toml.read_text().replace('name = "hidden-f64"', 'name = "small"'))
    with pytest.raises(ProblemError, match="duplicate case names: small"):
        load_problem(pkg)


def test_content_hash_tracks_every_file(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    before = load_problem(pkg).content_hash
    (pkg / "statement.md").write_text("changed")
    assert load_problem(pkg).content_hash != before


def test_tolerance_override_order(vec_scale: Problem) -> None:
    case = vec_scale.config.cases[1]
    tol = vec_scale.config.tolerance_for(case)
    assert case.dtype == "float64" and tol.atol == 1e-10


def test_bundled_problems_all_load() -> None:
    problems = discover_problems(REPO_ROOT / "problems")
    slugs = {p.slug for p in problems}
    assert {"manual-linear", "multi-head-matmul", "importance-matmul", "rope"} <= slugs
    for p in problems:
        assert len(p.config.cases) >= 8, p.slug
        assert any(c.visibility == "hidden" for c in p.config.cases), p.slug
        assert any(c.visibility == "public" for c in p.config.cases), p.slug
        verdicts = [v for v, _ in p.solutions()]
        assert verdicts.count("accepted") >= 2, p.slug
        assert len([v for v in verdicts if v != "accepted"]) >= 5, p.slug


def test_resolve_by_slug_or_path() -> None:
    assert resolve_problem("multi-head-matmul", REPO_ROOT / "problems").slug == "multi-head-matmul"
    with pytest.raises(ProblemError, match="no problem"):
        resolve_problem("no-such-problem", REPO_ROOT / "problems")
