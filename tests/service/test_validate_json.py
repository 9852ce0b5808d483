"""`tensorjudge problem validate --json` prints strict JSON, and the one helper that makes
reports JSON-safe (the CLI, the database's JSON columns) writes non-finite floats as strings."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from core import jsonsafe
from core.settings import REPO_ROOT

from .helpers import TINY


def _refuse(constant: str) -> object:
    raise AssertionError(f"not strict JSON: {constant}")


def test_json_safe_cleans_nested_non_finite_floats() -> None:
    value = {"a": [1.0, math.inf, (-math.inf, math.nan)], "b": {"c": math.nan}, "d": "x", "e": 2}
    assert jsonsafe.json_safe(value) == {"a": [1.0, "inf", ["-inf", "nan"]], "b": {"c": "nan"}, "d": "x", "e": 2}
    assert json.loads(jsonsafe.dumps(value), parse_constant=_refuse)["a"][1] == "inf"


@pytest.mark.sandbox
@pytest.mark.slow
def test_validate_json_is_strict_when_the_margin_is_infinite() -> None:
    # tiny-add's accepted solution matches the reference exactly: the margin is infinite.
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "problem", "validate", str(TINY), "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout, parse_constant=_refuse)
    assert report["ok"] is True and report["accepted_max_error_ratio"] == 0.0
    assert report["margin"] == "inf"
