"""trial runs, problem metadata for the list, per-problem version numbers (issue 16)

Revision ID: e16c00c0de03
Revises: d17b00c0de02
Create Date: 2026-12-01 16:02:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from alembic import op  # noqa: F401

revision = "e16c00c0de03"
down_revision = "d17b00c0de02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Placeholder: the columns and tables of issue 16 are added here."""


def downgrade() -> None:
    """Placeholder."""
