"""Approvals: action requests, decisions, and the append-only audit log.

Revision ID: 0001_approvals
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001_approvals"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "pending",
    "approved",
    "executing",
    "executed",
    "failed",
    "denied",
    "cancelled",
    "expired",
    "outcome_unknown",
)

# The audit log is append-only: the database itself refuses to change or remove a row.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
POSTGRES_TRIGGERS = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
)


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "action_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("verb", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("plan_name", sa.String(length=255), nullable=False),
        sa.Column("plan_state", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("card_channel", sa.String(length=64), nullable=True),
        sa.Column("card_ts", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("approver_role", sa.String(length=64), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("expires_at", nullable=False),
        _timestamp("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        _timestamp("claimed_at", nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        _timestamp("executed_at", nullable=True),
        sa.Column("vro_status", sa.Integer(), nullable=True),
        sa.Column("vro_message", sa.Text(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")",
            name=op.f("ck_action_requests_status"),
        ),
        sa.CheckConstraint("approvals_required >= 0", name=op.f("ck_action_requests_approvals_required")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_requests")),
    )
    op.create_index(op.f("ix_action_requests_plan_id"), "action_requests", ["plan_id"])
    op.create_index("ix_action_requests_status_expires_at", "action_requests", ["status", "expires_at"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        _timestamp("at", nullable=False),
        sa.CheckConstraint("decision IN ('approve', 'deny')", name=op.f("ck_decisions_decision")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["action_requests.id"],
            name=op.f("fk_decisions_request_id_action_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("request_id", "user_id", name=op.f("uq_decisions_request_id_user_id")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _timestamp("at", nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("plan_id", sa.String(length=64), nullable=True),
        sa.Column("plan_name", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_plan_id"), "audit_log", ["plan_id"])
    op.create_index(op.f("ix_audit_log_request_id"), "audit_log", ["request_id"])
    for statement in POSTGRES_TRIGGERS if _is_postgres() else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if _is_postgres():
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    op.drop_index(op.f("ix_audit_log_request_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_plan_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("decisions")
    op.drop_index("ix_action_requests_status_expires_at", table_name="action_requests")
    op.drop_index(op.f("ix_action_requests_plan_id"), table_name="action_requests")
    op.drop_table("action_requests")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
