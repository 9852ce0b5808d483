"""roster invites: a one-time link that sets an account's password (issue 15)

Revision ID: f15d00c0de04
Revises: e16c00c0de03
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the placeholder is filled in

from alembic import op  # noqa: F401 - used once the placeholder is filled in

revision = "f15d00c0de04"
down_revision = "e16c00c0de03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Placeholder: nothing yet."""


def downgrade() -> None:
    """Placeholder: nothing yet."""
