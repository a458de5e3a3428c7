"""Watcher and outbox: watches (snapshot, cursor, lease) and the durable Slack outbox.

Revision ID: 0002_watcher_outbox
Revises: 0001_approvals
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002_watcher_outbox"
down_revision: str | None = "0001_approvals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("plan_name", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("card_key", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        _timestamp("batch_opened_at", nullable=True),
        sa.Column("card_rev", sa.Integer(), nullable=False),
        _timestamp("card_written_at", nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        _timestamp("next_poll_at", nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("vro_unreachable", sa.Boolean(), nullable=False),
        _timestamp("started_at", nullable=False),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watches")),
    )
    op.create_index("ix_watches_status_next_poll_at", "watches", ["status", "next_poll_at"])
    op.create_index(
        "uq_watches_active_plan_channel",
        "watches",
        ["plan_id", "channel"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("parent_key", sa.String(length=255), nullable=True),
        sa.Column("target_ts", sa.String(length=32), nullable=True),
        sa.Column("target_key", sa.String(length=255), nullable=True),
        sa.Column("broadcast", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("in_doubt", sa.Boolean(), nullable=False),
        _timestamp("next_attempt_at", nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        _timestamp("claimed_until", nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    op.create_index("ix_outbox_status_channel_id", "outbox", ["status", "channel", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_channel_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("uq_watches_active_plan_channel", table_name="watches")
    op.drop_index("ix_watches_status_next_poll_at", table_name="watches")
    op.drop_table("watches")
