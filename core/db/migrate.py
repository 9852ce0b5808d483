"""Run Alembic migrations from code (serve, the api container, tests)."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from core.settings import REPO_ROOT


def alembic_config(url: str) -> Config:
    """An Alembic config for this repository's migrations, pointed at `url`."""
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (idempotent)."""
    command.upgrade(alembic_config(url), revision)
