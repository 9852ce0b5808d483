"""Shared fixtures: settings pointed at temporary data dirs, and the fixture problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.problem import Problem, load_problem
from core.settings import REPO_ROOT, Settings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def grading_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for grading with the real process sandbox; the reference cache lasts the session."""
    return Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("tj-data"),
        problems_dir=REPO_ROOT / "problems",
        secret_key="test-secret-not-for-production",
        sandbox="process",
    )


@pytest.fixture(scope="session")
def vec_scale() -> Problem:
    """A tiny problem whose solutions cover every verdict; fast to grade."""
    return load_problem(FIXTURES / "problems" / "vec-scale")
