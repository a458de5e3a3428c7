"""The crash-proof pipeline: send-claim heartbeats, held requests, typed names, watch baselines.

- ``action_requests.claimed_until``: the send claim's heartbeat (a claim past it belongs to a
  process that died); ``held_at``: approved but never sent, offered again with a Send button;
  ``param_names``: the names people typed for the ids in ``params``.
- ``watches.baseline``: the plan's RuntimeDetails read just before the action was sent;
  ``thread_key``: the outbox key of the thread's root when its ``ts`` is not known yet;
  ``no_run_deadline``: when a watch that saw no run says so and ends; ``note``: why it closed.

Revision ID: 0006_pipeline
Revises: 0005_authz
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_pipeline"
down_revision: str | None = "0005_authz"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action_requests") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("param_names", sa.JSON(), nullable=True))
    with op.batch_alter_table("watches") as batch:
        batch.add_column(sa.Column("baseline", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("thread_key", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("no_run_deadline", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watches") as batch:
        batch.drop_column("note")
        batch.drop_column("no_run_deadline")
        batch.drop_column("thread_key")
        batch.drop_column("baseline")
    with op.batch_alter_table("action_requests") as batch:
        batch.drop_column("param_names")
        batch.drop_column("held_at")
        batch.drop_column("claimed_until")
