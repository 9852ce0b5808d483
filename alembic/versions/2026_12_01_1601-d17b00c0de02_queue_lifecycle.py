"""fair queue and submission life cycle: lanes, supersede, idempotency keys, heartbeats (issues 15, 17)

Revision ID: d17b00c0de02
Revises: c15a00c0de01
Create Date: 2026-12-01 16:01:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401

from alembic import op  # noqa: F401

revision = "d17b00c0de02"
down_revision = "c15a00c0de01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Placeholder: the queue and life-cycle columns and tables are added here."""


def downgrade() -> None:
    """Placeholder."""
