"""What a poll writes to the outbox for a run: thread replies, the summary, the card's edit;
and how busy each channel is, which paces the thread (bot.watcher.batching).

Every write happens in the caller's transaction, under a key derived from the watch and the
event sequence, so a replayed poll writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import reading
from bot.outbox.store import enqueue_post, queue_edit
from bot.outbox.tables import KIND_POST, PRIORITY_NORMAL, PRIORITY_NOTICE, OutboxMessage
from bot.outbox.tables import STATUS_PENDING as OUTBOX_PENDING
from bot.slack.message import Message
from bot.watcher.batching import ChannelLoad, is_notice
from bot.watcher.config import FinishedRun, RunFinished, WatcherStats
from bot.watcher.diff import Event
from bot.watcher.lifecycle import card_key, thread_of
from bot.watcher.render import WatchInfo, status_card, summary_messages
from bot.watcher.runs import rto_applies, run_record
from bot.watcher.snapshot import Snapshot
from bot.watcher.tables import STATUS_ACTIVE, Watch


class ChannelLoads:
    """How busy each channel is (runs narrated there, posts waiting), read every few seconds."""

    def __init__(
        self, *, session_factory: async_sessionmaker[AsyncSession], clock: Clock, refresh_seconds: float
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._refresh = refresh_seconds
        self._loads: dict[str, ChannelLoad] = {}
        self._until = float("-inf")

    async def refresh(self) -> None:
        """Read the loads again when the last reading is older than ``refresh_seconds``."""
        mono = self._clock.monotonic()
        if mono < self._until:
            return
        self._until = mono + self._refresh
        async with reading(self._sessions) as session:
            runs = await session.execute(
                select(Watch.channel, func.count())
                .where(Watch.status == STATUS_ACTIVE)
                .group_by(Watch.channel)
            )
            runs_in = {channel: int(count) for channel, count in runs.tuples()}
            waiting = await session.execute(
                select(OutboxMessage.channel, func.count())
                .where(OutboxMessage.status == OUTBOX_PENDING, OutboxMessage.kind == KIND_POST)
                .group_by(OutboxMessage.channel)
            )
            backlog = {channel: int(count) for channel, count in waiting.tuples()}
        self._loads = {
            channel: ChannelLoad(runs=runs_in.get(channel, 0), backlog=backlog.get(channel, 0))
            for channel in runs_in.keys() | backlog.keys()
        }

    def of(self, channel: str) -> ChannelLoad:
        return self._loads.get(channel, ChannelLoad())


class NarrationWrites:
    """The outbox rows of a run's narration."""

    def __init__(
        self,
        *,
        stats: WatcherStats,
        rto_for: Callable[[str, str], int | None],
        on_run_finished: RunFinished | None,
    ) -> None:
        self.stats = stats
        self._rto_for = rto_for
        self._on_run_finished = on_run_finished

    @staticmethod
    def thread(row: Watch) -> dict[str, Any]:
        """Where replies go: under the caller's message (or card), or under the watcher's own card."""
        return thread_of(row) or {"parent_key": row.card_key or card_key(row.id)}

    async def _replies(
        self,
        session: AsyncSession,
        row: Watch,
        key: str,
        messages: Sequence[Message],
        now: datetime,
        *,
        priority: int,
        broadcast_first: bool = False,
    ) -> None:
        for part, message in enumerate(messages):
            await enqueue_post(
                session,
                key=f"{key}:{part}",
                channel=row.channel,
                message=message,
                now=now,
                broadcast=broadcast_first and part == 0,
                priority=priority,
                **self.thread(row),
            )
        self.stats.messages += len(messages)

    async def thread_replies(
        self,
        session: AsyncSession,
        row: Watch,
        events: Sequence[Event],
        now: datetime,
        messages: Sequence[Message],
    ) -> bool:
        """Write ``messages`` (the rendering of ``events``) as thread replies.

        A message with a halt, the end, or VRO going away goes ahead of the channel's backlog.
        """
        if not events:
            return False
        first, last = events[0].seq, events[-1].seq
        priority = PRIORITY_NOTICE if is_notice(e.kind for e in events) else PRIORITY_NORMAL
        await self._replies(
            session, row, f"watch:{row.id}:events:{first}-{last}", messages, now, priority=priority
        )
        return bool(messages)

    async def summary(
        self, session: AsyncSession, row: Watch, info: WatchInfo, snapshot: Snapshot, now: datetime
    ) -> bool:
        """The run's summary (in the thread, its first part also in the channel), and its record."""
        if rto_applies(info.action):
            info = replace(info, rto_minutes=self._rto_for(row.plan_id, info.plan_name))
        if self._on_run_finished is not None:
            # In the summary's transaction: the run is on record exactly when its summary is.
            record = run_record(snapshot, now=now, rto_minutes=info.rto_minutes)
            finished = FinishedRun(
                watch_id=row.id, request_id=row.request_id, info=info, record=record, at=now
            )
            await self._on_run_finished(session, finished)
        messages = summary_messages(info, snapshot, now=now)
        await self._replies(
            session,
            row,
            f"watch:{row.id}:summary",
            messages,
            now,
            priority=PRIORITY_NOTICE,
            broadcast_first=True,
        )
        return True

    async def card(
        self,
        session: AsyncSession,
        row: Watch,
        rev: int,
        info: WatchInfo,
        snapshot: Snapshot,
        now: datetime,
        *,
        status: str,
        card: Message | None = None,
        priority: int = PRIORITY_NORMAL,
    ) -> bool:
        """Queue the card's edit; ``priority`` when the plan changed state (the sender sends it first)."""
        message = card or status_card(
            info, snapshot, now=now, status=status, vro_unreachable=row.vro_unreachable
        )
        if status != STATUS_ACTIVE:
            priority = PRIORITY_NOTICE
        await queue_edit(
            session,
            key=f"{card_key(row.id)}:{rev}",
            channel=row.channel,
            message=message,
            now=now,
            target_key=row.card_key or card_key(row.id),
            priority=priority,
        )
        self.stats.card_updates += 1
        return True
