"""The outbox table: every Slack post or update, written to the database before it is sent.

A row is identified by its unique ``key`` (derived by the writer from stable facts such as a
watch id and an event sequence number), so writing the same message twice is a no-op and a
crash never produces a second post. The sender fills ``ts`` once Slack has answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UtcDateTime

KIND_POST = "post"
KIND_UPDATE = "update"

# Posts with a higher priority go first in their channel (summaries, halt notices); edits
# with a higher priority go first in the workspace (a card whose plan changed state).
PRIORITY_NORMAL = 0
PRIORITY_NOTICE = 1
# A channel board's edits (bot.watcher.board) go before any card's: one board shows every run.
PRIORITY_BOARD = 2

STATUS_PENDING = "pending"
STATUS_SENT = "sent"
STATUS_FAILED = "failed"
# An update replaced by a newer update of the same message before it was sent (debounce).
STATUS_SUPERSEDED = "superseded"


class OutboxMessage(Base):
    """One message to post (``kind='post'``) or one edit of a message (``kind='update'``).

    Thread replies name their parent either by ``thread_ts`` (known already) or by
    ``parent_key`` (another outbox row, whose ``ts`` the sender waits for). Updates name their
    target the same way: ``target_ts`` or ``target_key``.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    thread_ts: Mapped[str | None] = mapped_column(String(32), default=None)
    parent_key: Mapped[str | None] = mapped_column(String(255), default=None)
    target_ts: Mapped[str | None] = mapped_column(String(32), default=None)
    target_key: Mapped[str | None] = mapped_column(String(255), default=None)
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=PRIORITY_NORMAL, server_default="0")
    # {"text": str, "blocks": [...]}; the sender adds the metadata carrying the key.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # True from just before a post is sent until its outcome is known: after a crash or a
    # network error the message may be in Slack already, so the sender looks it up first.
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    ts: Mapped[str | None] = mapped_column(String(32), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)

    __table_args__ = (Index("ix_outbox_status_channel_id", "status", "channel", "id"),)
