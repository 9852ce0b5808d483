"""courses, rosters, assignments, extensions, quotas (issue 15)

Revision ID: c15a00c0de01
Revises: b7c1d2e3f4a5
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from alembic import op  # noqa: F401

revision = "c15a00c0de01"
down_revision = "b7c1d2e3f4a5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Placeholder: the course tables are added here."""


def downgrade() -> None:
    """Placeholder."""
