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
