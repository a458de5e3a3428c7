"""Tables of the approval store: action requests, decisions, and the append-only audit log.

Alembic (``migrations/``) is the schema's source of truth; these models must agree with it, and
a test runs Alembic's autogenerate comparison to prove they do.

The audit log is hash-chained (:mod:`bot.approvals.chain`). Code adds :class:`AuditEntry` rows
with ``session.add`` as usual; the session hooks at the end of this module hold them back from
any earlier flush and seal them at commit: lock the one ``audit_head`` row (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serializes writers), link each
entry to the head, insert, move the head. Appends from every replica are therefore serialized
and the chain never forks. The head is locked last, just before the commit, so a transaction
never waits for another lock while holding it (no deadlock with the request-row locks).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from bot.approvals.chain import GENESIS, link
from bot.approvals.status import DecisionKind, RequestStatus
from bot.db import Base, UtcDateTime


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
    # The send claim's heartbeat: a claim past it belongs to a process that stopped.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Approved but never sent (found after a restart): the channel was told; only a Send click
    # (which checks everything again) sends it now.
    held_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The names people typed for the ids in ``params`` (cards redrawn later read the same).
    param_names: Mapped[dict[str, str] | None] = mapped_column(JSON)
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    vro_status: Mapped[int | None] = mapped_column(Integer)
    vro_message: Mapped[str | None] = mapped_column(Text)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # approvals: {all_of: [...]}: [{"role": ..., "count": ...}]; NULL for a plain number
    approval_groups: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # require_check in warn mode: why readiness was not proven when the request was made
    readiness_warning: Mapped[str | None] = mapped_column(Text)


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
    # the request's approver roles this user held at click time (for approvals from groups)
    roles: Mapped[list[str] | None] = mapped_column(JSON)


class AuditEntry(Base):
    """One line of the audit log. Rows are only ever inserted (database triggers refuse the rest).

    ``prev_hash`` and ``hash`` are set when the row is sealed at commit (see the module notes).
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    actor_team: Mapped[str | None] = mapped_column(String(32))
    """The Slack team (workspace) the actor acted from; a refused foreign request keeps its own."""
    event: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(64), index=True)
    plan_name: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def content(self) -> dict[str, Any]:
        """The hashed columns (every column but id, prev_hash, hash)."""
        return {c.key: getattr(self, c.key) for c in AuditEntry.__table__.columns}


class AuditHead(Base):
    """The end of the audit chain: one row (id 1), locked by every append."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int | None] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)


# --- sealing the audit chain ------------------------------------------------------------------

_UNSEALED = "audit_unsealed"


class AuditHeadMissingError(RuntimeError):
    """The ``audit_head`` row is gone; the schema is not what the code expects."""


@event.listens_for(Session, "before_flush")
def _hold_back_audit_entries(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    """Keep new audit entries out of the flush; they are sealed and inserted at commit."""
    held: list[AuditEntry] = session.info.setdefault(_UNSEALED, [])
    for obj in list(session.new):
        if isinstance(obj, AuditEntry) and obj.hash is None:
            session.expunge(obj)
            held.append(obj)


@event.listens_for(Session, "before_commit")
def _seal_audit_entries(session: Session) -> None:
    """Link the held entries to the chain's head under its lock, insert them, move the head."""
    held: list[AuditEntry] = session.info.pop(_UNSEALED, [])
    held.extend(o for o in list(session.new) if isinstance(o, AuditEntry) and o.hash is None)
    if not held:
        return
    for entry in held:
        if entry in session:
            session.expunge(entry)
    head = session.execute(
        select(AuditHead.last_id, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one_or_none()
    if head is None:
        raise AuditHeadMissingError("the audit_head row is missing; run `vro-bot db upgrade`")
    prev = head.hash or GENESIS
    for entry in held:
        entry.prev_hash = prev
        entry.hash = prev = link(prev, entry.content())
        session.add(entry)
    session.flush()
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_id=held[-1].id, hash=prev, row_count=AuditHead.row_count + len(held))
        .execution_options(synchronize_session=False)
    )


@event.listens_for(Session, "after_soft_rollback")
def _drop_unsealed(session: Session, _previous: object) -> None:
    session.info.pop(_UNSEALED, None)
