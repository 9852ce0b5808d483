"""submissions.loading: which file and symbol were graded, and layout notes

Revision ID: b7c1d2e3f4a5
Revises: deb5cb6396e6
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "b7c1d2e3f4a5"
down_revision = "deb5cb6396e6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable JSON column (older submissions have none)."""
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("loading", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("loading")
