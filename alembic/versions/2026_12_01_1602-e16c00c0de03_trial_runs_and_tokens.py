"""trial runs, problem metadata for the list, per-problem version numbers (issue 16)

Revision ID: e16c00c0de03
Revises: d17b00c0de02
Create Date: 2026-12-01 16:02:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "e16c00c0de03"
down_revision = "d17b00c0de02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Submissions get a kind: "submission" (counted) or "trial" (a run on the public cases)."""
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="submission"))


def downgrade() -> None:
    """Drop the kind column."""
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("kind")
