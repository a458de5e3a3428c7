"""Narration pace: when a watch last wrote a thread message and how many; outbox priorities.

Revision ID: 0003_narration
Revises: 0002_watcher_outbox
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_narration"
down_revision: str | None = "0002_watcher_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.add_column(sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("thread_messages", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("priority")
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("thread_messages")
        batch.drop_column("flushed_at")
