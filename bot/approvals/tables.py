"""Tables of the approval store: action requests, decisions, and the append-only audit log.

Alembic (``migrations/``) is the schema's source of truth; these models must agree with it, and
a test runs Alembic's autogenerate comparison to prove they do.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UtcDateTime


class RequestStatus(StrEnum):
    """Where an action request is in its life.

    ``pending`` -> ``approved`` (quorum met) -> ``executing`` (claimed by exactly one process)
    -> ``executed`` / ``failed`` / ``outcome_unknown``; or ``pending`` -> ``denied`` /
    ``cancelled`` / ``expired``.
    """

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    OUTCOME_UNKNOWN = "outcome_unknown"


class DecisionKind(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class ActionRequest(Base):
    """One request to run a VRO plan action, from creation to VRO's answer."""

    __tablename__ = "action_requests"
    __table_args__ = (
        CheckConstraint(_in("status", RequestStatus), name="status"),
        CheckConstraint("approvals_required >= 0", name="approvals_required"),
        Index("ix_action_requests_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requester: Mapped[str] = mapped_column(String(64))
    verb: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    plan_name: Mapped[str] = mapped_column(String(255))
    plan_state: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(64))
    card_channel: Mapped[str | None] = mapped_column(String(64))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20))
    approvals_required: Mapped[int] = mapped_column(Integer)
    approver_role: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    vro_status: Mapped[int | None] = mapped_column(Integer)
    vro_message: Mapped[str | None] = mapped_column(Text)
    status_reason: Mapped[str | None] = mapped_column(Text)


class Decision(Base):
    """One user's approve or deny on one request; at most one per user and request."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("request_id", "user_id"),
        CheckConstraint(_in("decision", DecisionKind), name="decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("action_requests.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """One line of the audit log. Rows are only ever inserted (database triggers refuse the rest)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(64), index=True)
    plan_name: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
