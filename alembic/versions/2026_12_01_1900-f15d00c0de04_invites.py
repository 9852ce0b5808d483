"""roster invites: a one-time link that sets an account's password (issue 15)

Revision ID: f15d00c0de04
Revises: e16c00c0de03
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

import core.db.base
from alembic import op

revision = "f15d00c0de04"
down_revision = "e16c00c0de03"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.db.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Add course_invites: one row per invite link, the token stored only as its SHA-256."""
    op.create_table(
        "course_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        _when("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_course_invites_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_course_invites_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_course_invites_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_course_invites_token_hash")),
    )
    with op.batch_alter_table("course_invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_invites_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_course_invites_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    """Drop course_invites."""
    with op.batch_alter_table("course_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_invites_user_id"))
        batch_op.drop_index(batch_op.f("ix_course_invites_course_id"))
    op.drop_table("course_invites")
