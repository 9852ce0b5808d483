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


def test_case_defaults_apply_to_every_case_and_the_case_wins(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    text = toml.read_text().replace(
        "[[cases]]", '[case_defaults]\ndevice = "cpu"\npoints = 2\nparams = { alpha = 9.0 }\n\n[[cases]]', 1
    )
    toml.write_text(text.replace("params = { n = 5, alpha = 2.0 }", "params = { n = 5 }"))
    cases = load_problem(pkg).config.cases
    assert {c.device for c in cases} == {"cpu"} and {c.points for c in cases} == {2}
    assert cases[0].params == {"n": 5, "alpha": 9.0}  # merged by key
    assert cases[1].params == {"n": 7, "alpha": -0.5}  # the case's own value wins


def test_case_defaults_reject_unknown_keys_and_errors_name_the_case(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    original = toml.read_text()
    toml.write_text(original.replace("[[cases]]", '[case_defaults]\ndevcie = "cpu"\n\n[[cases]]', 1))
    with pytest.raises(ProblemError, match="case_defaults: devcie cannot be defaulted"):
        load_problem(pkg)
    toml.write_text(original.replace("[[cases]]", '[case_defaults]\ndtype = "float8"\n\n[[cases]]', 1))
    with pytest.raises(ProblemError, match=r"case timed: field cases\.2\.dtype"):
        load_problem(pkg)


def test_one_line_case_form(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    head = toml.read_text().split("[[cases]]")[0]
    # an array of inline tables: top-level keys come before the first [table] header in TOML
    one_line = ('cases = [\n  { name = "a", visibility = "public", seed = 1, params = { n = 3, alpha = 1.0 } },\n'
                '  { name = "b", seed = 2, params = { n = 4, alpha = 2.0 } },\n]\n')
    toml.write_text(head.replace("[limits]", one_line + "\n[limits]"))
    cases = load_problem(pkg).config.cases
    assert [(c.name, c.visibility, c.device) for c in cases] == [("a", "public", "any"), ("b", "hidden", "any")]


PARAMS_DRIVER = '''
from dataclasses import dataclass
from typing import Literal

@dataclass(frozen=True)
class Params:
    n: int
    alpha: float = 1.0
    mode: Literal["fast", "slow"] = "fast"
    pairs: tuple[tuple[int, int], ...] = ()
    top_k: int | None = None
'''


def _with_params_driver(tmp_path: Path) -> Path:
    pkg = _copy(tmp_path)
    driver = pkg / "driver.py"
    driver.write_text(PARAMS_DRIVER + driver.read_text())
    return pkg


def test_declared_params_accept_valid_cases(tmp_path: Path) -> None:
    pkg = _with_params_driver(tmp_path)
    toml = pkg / "problem.toml"
    toml.write_text(toml.read_text().replace("n = 5, alpha = 2.0", 'n = 5, alpha = 2, pairs = [[1, 2]], mode = "slow"'))
    assert load_problem(pkg).config.cases[0].params["pairs"] == [[1, 2]]  # params kept as authored


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("n = 5, alpha = 2.0, alhpa = 1.0", r"case small: params\.alhpa: unknown parameter"),
        ('n = "5", alpha = 2.0', r"case small: params\.n: Input should be a valid integer"),
        ("n = 5.0, alpha = 2.0", r"case small: params\.n: Input should be a valid integer"),
        ('n = 5, mode = "medium"', r"case small: params\.mode: Input should be 'fast' or 'slow'"),
        ("n = 5, pairs = [[1, 2, 3]]", r"case small: params\.pairs\.0"),
        ("alpha = 2.0", r"case small: params\.n: Field required"),
    ],
)
def test_declared_params_errors_name_file_case_and_field(tmp_path: Path, params: str, expected: str) -> None:
    pkg = _with_params_driver(tmp_path)
    toml = pkg / "problem.toml"
    toml.write_text(toml.read_text().replace("n = 5, alpha = 2.0", params))
    with pytest.raises(ProblemError, match=expected) as err:
        load_problem(pkg)
    assert "problem.toml" in str(err.value)


def test_params_declaration_is_read_not_run(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    marker = tmp_path / "ran"
    (pkg / "driver.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n" + PARAMS_DRIVER.replace("top_k: int | None = None", "x: object")
    )
    with pytest.raises(ProblemError, match=r"driver\.py: line \d+: Params\.x: unsupported annotation 'object'"):
        load_problem(pkg)
    assert not marker.exists()


def test_driver_without_params_is_not_checked(tmp_path: Path) -> None:
    pkg = _copy(tmp_path)
    toml = pkg / "problem.toml"
    toml.write_text(toml.read_text().replace("n = 5, alpha = 2.0", "n = 5, alpha = 2.0, anything = true"))
    assert load_problem(pkg).config.cases[0].params["anything"] is True
