"""fair queue and submission life cycle: lanes, supersede, idempotency keys, heartbeats (issues 15, 17)

Revision ID: d17b00c0de02
Revises: c15a00c0de01
Create Date: 2026-12-01 16:01:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "d17b00c0de02"
down_revision = "c15a00c0de01"
branch_labels = None
depends_on = None

_OLD_STATUSES = ("queued", "running", "done", "failed")
_NEW_STATUSES = (*_OLD_STATUSES, "superseded")
_STATUS_CHECK = "submission_status"  # named ck_submissions_submission_status by the convention


def _status_check(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    """Queue columns on submissions, the superseded status, heartbeats and leases."""
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=16), server_default="live", nullable=False))
        batch.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("infra_errors", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("previous_verdict", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("previous_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("rejudged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("was_verdict", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("was_score", sa.Float(), nullable=True))
        batch.drop_constraint(op.f("ck_submissions_submission_status"), type_="check")
        batch.create_check_constraint(_STATUS_CHECK, _status_check(_NEW_STATUSES))
        batch.create_unique_constraint("uq_submissions_user_idempotency_key", ["user_id", "idempotency_key"])
        batch.create_index("ix_submissions_waiting", ["status", "queue", "lane"], unique=False)
    op.execute("UPDATE submissions SET queued_at = created_at WHERE status IN ('queued', 'running')")
    op.create_table(
        "worker_heartbeats",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(length=64), nullable=False),
        sa.Column("busy_submission_id", sa.Integer(), nullable=True),
        sa.Column("sandbox", sa.String(length=64), nullable=False),
        sa.Column("sandbox_uid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeats")),
    )
    op.create_index(op.f("ix_worker_heartbeats_beat_at"), "worker_heartbeats", ["beat_at"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    """Drop them again; superseded submissions become failed (the old schema has no such status)."""
    op.drop_table("leases")
    op.drop_index(op.f("ix_worker_heartbeats_beat_at"), table_name="worker_heartbeats")
    op.drop_table("worker_heartbeats")
    op.execute("UPDATE submissions SET status = 'failed' WHERE status = 'superseded'")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_waiting")
        batch.drop_constraint("uq_submissions_user_idempotency_key", type_="unique")
        batch.drop_constraint(op.f("ck_submissions_submission_status"), type_="check")
        batch.create_check_constraint(_STATUS_CHECK, _status_check(_OLD_STATUSES))
        for column in (
            "was_score", "was_verdict", "rejudged_at", "previous_score", "previous_verdict",
            "idempotency_key", "infra_errors", "claimed_by", "superseded_by_id", "published_at",
            "not_before", "queued_at", "lane",
        ):
            batch.drop_column(column)
