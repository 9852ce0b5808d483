"""courses, rosters, assignments, extensions, quotas (issue 15)

Revision ID: c15a00c0de01
Revises: b7c1d2e3f4a5
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

import core.db.base
from alembic import op

revision = "c15a00c0de01"
down_revision = "b7c1d2e3f4a5"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, core.db.base.UTCDateTime(timezone=True), nullable=nullable)


def _choice(name: str, enum_name: str, *values: str) -> sa.Column:
    return sa.Column(
        name,
        sa.Enum(*values, name=enum_name, native_enum=False, create_constraint=True, length=32),
        nullable=False,
    )


def upgrade() -> None:
    """Add the course tables."""
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("late_days", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("pseudonym_salt", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_courses_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("slug", name=op.f("uq_courses_slug")),
    )
    op.create_table(
        "course_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _choice("role", "course_role", "instructor", "ta", "student"),
        sa.Column("section", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_course_memberships_course_id_courses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_course_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_memberships")),
        sa.UniqueConstraint("course_id", "user_id", name=op.f("uq_course_memberships_course_id")),
    )
    with op.batch_alter_table("course_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _when("release_at"),
        _when("due_at"),
        _when("hard_close_at", nullable=True),
        _choice("late_policy", "late_policy", "none", "per_day", "per_hour", "late_days"),
        sa.Column("late_penalty_pct", sa.Float(), nullable=False),
        _choice("results_policy", "results_policy", "immediate", "after_due"),
        _choice("leaderboard", "leaderboard_policy", "on", "off", "anonymous"),
        sa.Column("quota_per_day", sa.Integer(), nullable=True),
        sa.Column("quota_total", sa.Integer(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_assignments_course_id_courses"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("course_id", "slug", name=op.f("uq_assignments_course_id")),
    )
    op.create_table(
        "assignment_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_assignment_problems_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["problems.id"], name=op.f("fk_assignment_problems_problem_id_problems"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_problems")),
        sa.UniqueConstraint("assignment_id", "problem_id", name=op.f("uq_assignment_problems_assignment_id")),
    )
    with op.batch_alter_table("assignment_problems", schema=None) as batch_op:
        batch_op.create_index("ix_assignment_problems_problem_id", ["problem_id"], unique=False)

    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _when("due_at"),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_extensions_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"], ["users.id"], name=op.f("fk_extensions_granted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_extensions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.UniqueConstraint("assignment_id", "user_id", name=op.f("uq_extensions_assignment_id")),
    )
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_extensions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    """Drop the course tables."""
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extensions_user_id"))
    op.drop_table("extensions")
    with op.batch_alter_table("assignment_problems", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_problems_problem_id")
    op.drop_table("assignment_problems")
    op.drop_table("assignments")
    with op.batch_alter_table("course_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_memberships_user_id"))
    op.drop_table("course_memberships")
    op.drop_table("courses")
