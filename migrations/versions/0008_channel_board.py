"""The channel board: one live message over the runs narrated in a busy channel (``boards``),
and what each run's line shows (``watches.tally``).

Revision ID: 0008_channel_board
Revises: 0007_command_inbox
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_channel_board"
down_revision: str | None = "0007_command_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.add_column(sa.Column("tally", sa.JSON(), nullable=True))
    op.create_table(
        "boards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boards")),
        sa.UniqueConstraint("key", name=op.f("uq_boards_key")),
    )
    op.create_index(
        "uq_boards_open_channel",
        "boards",
        ["channel"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_boards_open_channel", table_name="boards")
    op.drop_table("boards")
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("tally")
