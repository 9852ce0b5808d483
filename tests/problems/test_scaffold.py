"""`tensorjudge problem new`: the scaffolded package loads, uses the kit, and validates as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.grading import validate
from core.problem import load_problem
from core.settings import Settings

runner = CliRunner()


def _new(tmp_path: Path, slug: str = "demo") -> Path:
    result = runner.invoke(app, ["problem", "new", slug, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"created {tmp_path / slug}" in result.output
    return tmp_path / slug


def test_new_writes_a_loadable_package_on_the_kit(tmp_path: Path) -> None:
    root = _new(tmp_path)
    problem = load_problem(root)
    assert problem.slug == "demo" and problem.title == "Demo"
    assert {v for v, _ in problem.solutions()} == {"accepted", "wrong_answer"}
    driver = (root / "driver.py").read_text()
    assert "from sandbox import kit" in driver and "class Params" in driver and "sandbox.harness" not in driver
    assert {c.device for c in problem.config.cases} == {"any"}  # from [case_defaults]


def test_new_refuses_to_overwrite_and_bad_slugs(tmp_path: Path) -> None:
    root = _new(tmp_path)
    (root / "statement.md").write_text("mine")
    again = runner.invoke(app, ["problem", "new", "demo", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
    assert (root / "statement.md").read_text() == "mine"
    bad = runner.invoke(app, ["problem", "new", "Bad_Slug", "--dir", str(tmp_path)])
    assert bad.exit_code == 2 and not (tmp_path / "Bad_Slug").exists()


@pytest.mark.sandbox
@pytest.mark.slow
def test_new_package_validates_as_it_stands(tmp_path: Path, grading_settings: Settings) -> None:
    report = validate(load_problem(_new(tmp_path)), settings=grading_settings, jobs=2)
    assert report.ok, "\n".join(report.errors)
    assert report.reference_verdict == "accepted"
    assert [s.verdict for s in report.solutions] == ["accepted", "accepted", "wrong_answer", "wrong_answer"]
