"""Authorization: the team of every audited actor, and one answer per Slack delivery.

Revision ID: 0005_authz
Revises: 0004_audit_chain
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_authz"
down_revision: str | None = "0004_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: the audit log's append-only triggers stay as they are.
    op.add_column("audit_log", sa.Column("actor_team", sa.String(length=32), nullable=True))
    op.create_table(
        "slack_deliveries",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_slack_deliveries")),
    )
    op.create_index(op.f("ix_slack_deliveries_received_at"), "slack_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_deliveries_received_at"), table_name="slack_deliveries")
    op.drop_table("slack_deliveries")
    # Not batch mode: recreating audit_log on SQLite would drop its append-only triggers.
    op.execute("ALTER TABLE audit_log DROP COLUMN actor_team")
