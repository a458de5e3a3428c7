"""The watches table: one row per plan followed in one channel.

The row is the watch's memory: where it narrates (channel, thread), who asked, the head of the
last RuntimeDetails snapshot and the event cursor, the events waiting for the next thread message,
and the lease that keeps a second replica away. The snapshot's items (every group, VM and step
seen) have a row each in ``watch_items``, so a poll writes only the items that changed (see
:mod:`bot.watcher.store`). Everything the watcher posts is derived from these rows and written to
the outbox in the same transaction that advances them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UtcDateTime

STATUS_ACTIVE = "active"
STATUS_FINISHED = "finished"
STATUS_STOPPED = "stopped"
# Written with the send claim, before VRO has answered: not polled until it turns active.
STATUS_SENDING = "sending"
# VRO refused the action (nothing ran): closed with VRO's message.
STATUS_CLOSED = "closed"
# A newer action on the same plan took over the narration.
STATUS_SUPERSEDED = "superseded"
# VRO showed no run for the action within the no-run time.
STATUS_NO_RUN = "no_run"


class Watch(Base):
    """A plan followed in a channel, narrated in a thread."""

    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    plan_name: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(64))
    # The thread root: a message the caller posted (approval card), or None while the
    # watcher's own status card (``card_key``) is the root and its ts is in the outbox.
    thread_ts: Mapped[str | None] = mapped_column(String(32), default=None)
    card_key: Mapped[str | None] = mapped_column(String(255), default=None)
    # The outbox key of the thread's root (the approval card) while its ts may not be known.
    thread_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str | None] = mapped_column(String(64), default=None)
    requested_by: Mapped[str | None] = mapped_column(String(64), default=None)
    approved_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=STATUS_ACTIVE)
    # The merged RuntimeDetails snapshot's head (bot.watcher.snapshot: all but its items, which
    # are in watch_items) and the event cursor.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped on every write: the optimistic check that a poll still owns what it read.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    # Events seen but not yet written as a thread message (the batching window).
    pending: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    batch_opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # The pace of the narration (see bot.watcher.batching): when the last thread message was
    # written and how many were written so far.
    flushed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    thread_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    card_rev: Mapped[int] = mapped_column(Integer, default=0)
    card_written_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    next_poll_at: Mapped[datetime] = mapped_column(UtcDateTime())
    interval_seconds: Mapped[float] = mapped_column(Float)
    vro_unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # The plan's RuntimeDetails read just before the action was sent: completion is judged
    # against it, on VRO's own data only.
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # An action's watch that sees no run by then says so and ends.
    no_run_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    # Why a watch closed other than by finishing (VRO's refusal, superseded, no run).
    note: Mapped[str | None] = mapped_column(Text, default=None)
    # What the channel board shows of the run (bot.watcher.board.Tally), written with the card
    # while the channel is busy enough to have a board.
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    __table_args__ = (
        Index("ix_watches_status_next_poll_at", "status", "next_poll_at"),
        # At most one active watch of a plan per channel, even with two replicas racing.
        Index(
            "uq_watches_active_plan_channel",
            "plan_id",
            "channel",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )


class Board(Base):
    """A channel's board (bot.watcher.board): one live message over the runs narrated there.

    At most one board per channel is open; it closes when the last of its runs ends. ``rev`` is
    the optimistic check of two replicas redrawing it at once; ``digest`` is the hash of what was
    last queued, so an unchanged board costs no edit.
    """

    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(64))
    # The outbox key of the board's message (its edits name it as their target).
    key: Mapped[str] = mapped_column(String(255), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    rev: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        Index(
            "uq_boards_open_channel",
            "channel",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )


class WatchItem(Base):
    """One group, VM or step of a watch's snapshot (``Item`` as JSON, without its key).

    Written only when the item changed; deleted with its watch.
    """

    __tablename__ = "watch_items"

    watch_id: Mapped[int] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    item: Mapped[dict[str, Any]] = mapped_column(JSON)


async def active_watches(sessions: async_sessionmaker[AsyncSession]) -> int:
    """How many plans are being watched right now (the metrics gauge; the demo waits on it)."""
    async with sessions() as session:
        return int(
            (
                await session.execute(select(func.count(Watch.id)).where(Watch.status == STATUS_ACTIVE))
            ).scalar_one()
        )
