"""Settings come from the environment only, never from a .env in the current folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings


def test_a_dotenv_next_to_the_command_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TENSORJUDGE_DATABASE_URL=postgresql://prod/db\nTENSORJUDGE_PORT=9999\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TENSORJUDGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TENSORJUDGE_PORT", raising=False)
    s = Settings()
    assert s.database_url == "" and s.port == 8000
    monkeypatch.setenv("TENSORJUDGE_PORT", "8123")
    assert Settings().port == 8123


def test_worker_concurrency_fits_the_machine_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.settings

    monkeypatch.delenv("TENSORJUDGE_WORKER_CONCURRENCY", raising=False)
    for cores, expected in ((1, 2), (2, 2), (8, 4), (64, 8)):
        monkeypatch.setattr(core.settings.os, "cpu_count", lambda n=cores: n)
        assert Settings().concurrency == expected
    monkeypatch.setenv("TENSORJUDGE_WORKER_CONCURRENCY", "1")
    assert Settings().concurrency == 1
