"""Commands that create requests are written down before the ack (``command_inbox``).

Revision ID: 0007_command_inbox
Revises: 0006_pipeline
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_command_inbox"
down_revision: str | None = "0006_pipeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "command_inbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("response_url", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_inbox")),
    )
    op.create_index(op.f("ix_command_inbox_received_at"), "command_inbox", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_command_inbox_received_at"), table_name="command_inbox")
    op.drop_table("command_inbox")
