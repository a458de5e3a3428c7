"""Guardrails: the audit log's hash chain and its head; approvals from groups; readiness warnings.

Existing audit rows are chained in id order (the append-only triggers are lifted for that one
update and put back), so an upgraded database verifies clean from its first row.

Revision ID: 0004_audit_chain
Revises: 0003_narration
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.approvals.chain import GENESIS, link

revision: str = "0004_audit_chain"
down_revision: str | None = "0003_narration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
BATCH = 1000


def upgrade() -> None:
    op.add_column("action_requests", sa.Column("approval_groups", sa.JSON(), nullable=True))
    op.add_column("action_requests", sa.Column("readiness_warning", sa.Text(), nullable=True))
    op.add_column("decisions", sa.Column("roles", sa.JSON(), nullable=True))

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )

    _lift_triggers()
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    last_id, head, rows = _chain_existing_rows()
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(op.f("uq_audit_log_hash"), ["hash"])
    _restore_triggers()
    op.get_bind().execute(
        sa.text("INSERT INTO audit_head (id, last_id, hash, row_count) VALUES (1, :last_id, :hash, :rows)"),
        {"last_id": last_id, "hash": head, "rows": rows},
    )


def downgrade() -> None:
    _lift_triggers()
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint(op.f("uq_audit_log_hash"), type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
    _restore_triggers()
    op.drop_table("audit_head")
    op.drop_column("decisions", "roles")
    op.drop_column("action_requests", "readiness_warning")
    op.drop_column("action_requests", "approval_groups")


def _chain_existing_rows() -> tuple[int | None, str, int]:
    """Hash every existing row in id order; returns the head (last id, hash, row count)."""
    bind = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("event", sa.String()),
        sa.column("request_id", sa.String()),
        sa.column("plan_id", sa.String()),
        sa.column("plan_name", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    prev, last_id, rows, after = GENESIS, None, 0, 0
    while True:
        batch = bind.execute(
            sa.select(log.c.id, log.c.at, log.c.actor, log.c.event, log.c.request_id, log.c.plan_id)
            .add_columns(log.c.plan_name, log.c.detail)
            .where(log.c.id > after)
            .order_by(log.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return last_id, prev, rows
        for row in batch:
            content: dict[str, Any] = dict(row._mapping)
            at = content["at"]
            if at is not None and at.tzinfo is None:  # SQLite keeps no offset; the app writes UTC
                content["at"] = at.replace(tzinfo=UTC)
            row_hash = link(prev, content)
            bind.execute(log.update().where(log.c.id == row.id).values(prev_hash=prev, hash=row_hash))
            prev, last_id, rows, after = row_hash, row.id, rows + 1, row.id


def _lift_triggers() -> None:
    if _is_postgres():
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _restore_triggers() -> None:
    if _is_postgres():
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
