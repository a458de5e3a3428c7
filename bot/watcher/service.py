"""The watcher: follows running plans through RuntimeDetails and narrates them via the outbox.

:class:`Watcher` is the public face (start, stop and nudge a watch) and the loop: it leases the
watches that are due (:mod:`bot.watcher.leases`), polls each when its turn comes
(:mod:`bot.watcher.poll`: read VRO, diff, commit the snapshot and the outbox rows in one
guarded transaction), keeps the channel boards current (:mod:`bot.watcher.boards`) and, in
announce mode, opens a watch for a plan started outside Slack.

Replicas: a watch is leased (``UPDATE ... WHERE lease expired OR owner = me``) for a short
time (12 s) that the run loop renews every few seconds, so on PostgreSQL two replicas never poll
the same watch, and a watch whose owner died is taken over (and polled at once) within seconds.
SQLite is single-replica: it serializes writers, but use one bot process on SQLite.

Action watches are opened by the send's claim (:mod:`bot.watcher.lifecycle`) with a baseline:
whether the action ran is judged on VRO's data against it, never on the bot's clock. One that
shows no run by its ``no_run_deadline`` ends with a plain notice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, first_of
from bot.db import reading
from bot.outbox.store import enqueue_post
from bot.outbox.tables import PRIORITY_NOTICE
from bot.vro import plan_states
from bot.vro.errors import VroError
from bot.vro.models import Page
from bot.watcher.boards import ChannelBoards
from bot.watcher.config import FinishedRun, RunFinished, WatcherConfig, WatcherStats
from bot.watcher.diff import Event
from bot.watcher.leases import WatchLeases
from bot.watcher.lifecycle import add_watch, card_key, watch_info
from bot.watcher.narration import ChannelLoads, NarrationWrites
from bot.watcher.poll import WatchPoll, load_event
from bot.watcher.reader import RuntimeReader
from bot.watcher.render import WatchInfo, status_card, thread_messages
from bot.watcher.snapshot import (
    Snapshot,
)
from bot.watcher.source import PlanLister, RuntimeSource
from bot.watcher.store import load_snapshot
from bot.watcher.tables import STATUS_ACTIVE, STATUS_STOPPED, Watch

__all__ = ["FinishedRun", "RunFinished", "Watcher", "WatcherConfig", "WatcherStats"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Watcher:
    """Polls every active watch that is due, leased to this process."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        source: RuntimeSource,
        clock: Clock,
        config: WatcherConfig | None = None,
        owner: str | None = None,
        plans: PlanLister | None = None,
        on_outbox: Callable[[], None] | None = None,
        record_lag: bool = False,
        rto_for: Callable[[str, str], int | None] | None = None,
        on_run_finished: RunFinished | None = None,
    ) -> None:
        self._sessions = session_factory
        self._source = source
        self._clock = clock
        self.config = config or WatcherConfig()
        self.owner = owner or f"watcher-{uuid.uuid4().hex[:12]}"
        self._plans = plans
        self._on_outbox = on_outbox
        self._announced: set[str] = set()
        self._next_announce = 0.0
        self._wake = asyncio.Event()
        self._loads = ChannelLoads(
            session_factory=session_factory,
            clock=clock,
            refresh_seconds=self.config.load_refresh_seconds,
        )
        self._next_heartbeat = float("-inf")
        self._next_boards = float("-inf")
        self.boards = ChannelBoards(session_factory=session_factory, min_runs=self.config.board_min_runs)
        self.stats = WatcherStats()
        self._leases = WatchLeases(
            session_factory=session_factory,
            clock=clock,
            owner=self.owner,
            lease_seconds=self.config.lease_seconds,
        )
        self._writes = NarrationWrites(
            stats=self.stats,
            rto_for=rto_for or (lambda _plan_id, _plan_name: None),
            on_run_finished=on_run_finished,
        )
        self._reader = RuntimeReader(
            source=source,
            clock=clock,
            stats=self.stats,
            vro_concurrency=self.config.vro_concurrency,
            fetch_concurrency=self.config.fetch_concurrency,
        )
        self.polling = WatchPoll(
            session_factory=session_factory,
            clock=clock,
            config=self.config,
            owner=self.owner,
            stats=self.stats,
            reader=self._reader,
            writes=self._writes,
            loads=self._loads,
            notify=self._notify,
            record_lag=record_lag,
        )

    # -- public API ------------------------------------------------------------------------------

    async def start_watch(
        self,
        plan_id: str,
        channel: str,
        *,
        parent_ts: str | None = None,
        request_id: str | None = None,
        action: str | None = None,
        requested_by: str | None = None,
        approved_by: Sequence[str] = (),
        plan_name: str | None = None,
    ) -> int:
        """Watch ``plan_id`` in ``channel``; returns the watch id.

        With ``parent_ts`` (the approval card) the narration goes in that thread and the status
        card is its first reply; without, the watcher posts a status card that roots the thread.
        Starting a watch that is already active returns it (and polls it soon).
        """
        now = self._clock.now()
        existing = await self._active_watch_id(plan_id, channel)
        if existing is not None:
            await self.nudge(plan_id)
            return existing
        info = WatchInfo(
            plan_id=plan_id,
            plan_name=plan_name or plan_id,
            action=action,
            requested_by=requested_by,
            approved_by=tuple(approved_by),
            started_at=now,
        )
        try:
            async with self._sessions() as session, session.begin():
                watch_id = await add_watch(
                    session,
                    plan_id=plan_id,
                    plan_name=plan_name or plan_id,
                    channel=channel,
                    status=STATUS_ACTIVE,
                    now=now,
                    poll_seconds=self.config.poll_seconds,
                    thread_ts=parent_ts,
                    request_id=request_id,
                    action=action,
                    requested_by=requested_by,
                    approved_by=approved_by,
                )
                await enqueue_post(
                    session,
                    key=card_key(watch_id),
                    channel=channel,
                    message=status_card(info, Snapshot(), now=now),
                    now=now,
                    thread_ts=parent_ts,
                )
        except IntegrityError:
            # Another replica (or a double click) started the same watch a moment ago.
            found = await self._active_watch_id(plan_id, channel)
            if found is None:
                raise
            return found
        self._notify()
        self._wake.set()
        return watch_id

    async def stop_watch(self, plan_id: str, channel: str, *, stopped_by: str | None = None) -> bool:
        """Stop the active watch of ``plan_id`` in ``channel`` (True if there was one).

        Events already seen are written out first; a last line says who stopped it.
        """
        for _ in range(5):
            now = self._clock.now()
            async with self._sessions() as session, session.begin():
                row = await session.scalar(
                    select(Watch).where(
                        Watch.plan_id == plan_id, Watch.channel == channel, Watch.status == STATUS_ACTIVE
                    )
                )
                if row is None:
                    return False
                stop = Event(
                    kind="stopped", name=row.plan_name, text=stopped_by, seq=row.sequence + 1, at=now
                )
                pending = [*(load_event(e) for e in row.pending), stop]
                result = await session.execute(
                    update(Watch)
                    .where(Watch.id == row.id, Watch.revision == row.revision, Watch.status == STATUS_ACTIVE)
                    .values(
                        status=STATUS_STOPPED,
                        finished_at=now,
                        pending=[],
                        batch_opened_at=None,
                        sequence=stop.seq,
                        revision=row.revision + 1,
                        lease_owner=None,
                        lease_expires_at=None,
                        card_rev=row.card_rev + 1,
                        card_written_at=now,
                    )
                )
                if not getattr(result, "rowcount", 0):
                    continue  # a poll committed in between: read again
                info = watch_info(row)
                snapshot = await load_snapshot(session, row.id)
                await self._writes.thread_replies(
                    session, row, pending, now, thread_messages(pending, info=info)
                )
                await self._writes.card(
                    session,
                    row,
                    row.card_rev + 1,
                    info,
                    snapshot,
                    now,
                    status=STATUS_STOPPED,
                    priority=PRIORITY_NOTICE,
                )
            self.polling.forget(row.id)
            self._notify()
            return True
        return False

    async def nudge(self, plan_id: str) -> None:
        """Poll ``plan_id``'s active watches soon at the fast interval (after an action on it)."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Watch)
                .where(Watch.plan_id == plan_id, Watch.status == STATUS_ACTIVE)
                .values(next_poll_at=now, interval_seconds=self.config.poll_seconds)
            )
        self._wake.set()

    async def poll_once(self, *, ahead: float = 0.0) -> int:
        """One poll of every watch due (within ``ahead`` seconds) this process may lease.

        Returns how many were polled (when all of them are done).
        """
        now = self._clock.now()
        rows = await self._leases.claim_due(now, ahead=ahead)
        if rows:
            await self._refresh_loads()
            limit = asyncio.Semaphore(self.config.concurrency)

            async def one(row: Watch) -> None:
                async with limit:
                    await self._poll_guarded(row)

            await asyncio.gather(*(one(row) for row in rows))
        await self._boards_due()
        return len(rows)

    async def _boards_due(self) -> None:
        """Bring the channel boards up to date when their turn has come (every few seconds)."""
        mono = self._clock.monotonic()
        if mono < self._next_boards:
            return
        self._next_boards = mono + self.config.board_seconds
        try:
            if await self.boards.refresh(self._clock.now()):
                self._notify()
        except Exception:
            log.exception("channel boards: refresh failed; trying again in %s s", self.config.board_seconds)

    async def _poll_guarded(self, row: Watch) -> None:
        try:
            await self.polling.poll(row)
        except Exception:
            log.exception("watch %s: poll failed; trying again later", row.id)
            await self._guarded(self._postpone(row.id), "putting its next poll off", row.id)
            await self._guarded(self.polling.failed(row), "telling its thread", row.id)

    async def _guarded(self, work: Awaitable[None], what: str, watch_id: int) -> None:
        try:
            await work
        except Exception:
            log.exception("watch %s: %s failed", watch_id, what)

    async def _start_due(self, polls: dict[int, asyncio.Task[None]]) -> None:
        """Start a poll of each watch whose turn has come, as long as there is room.

        Each watch is polled when its turn comes, however long the others' polls take: a slow
        VRO answer holds one slot, not the whole round. Watches due within ``cycle_seconds``
        start together (one claim for them all).
        """
        room = self.config.concurrency - len(polls)
        if room <= 0:
            return
        rows = await self._leases.claim_due(
            self._clock.now(), ahead=self.config.cycle_seconds, limit=room, busy=tuple(polls)
        )
        if not rows:
            return
        await self._refresh_loads()
        for row in rows:
            task = asyncio.create_task(self._poll_guarded(row))
            polls[row.id] = task
            task.add_done_callback(functools.partial(self._poll_done, polls, row.id))

    def _poll_done(self, polls: dict[int, asyncio.Task[None]], watch_id: int, _: object) -> None:
        full = len(polls) >= self.config.concurrency
        polls.pop(watch_id, None)
        if full:
            # The loop waits for room: this poll made some. Otherwise the loop already sleeps
            # until the next watch is due, and waking it after every poll would cost a claim
            # and a query per poll for nothing.
            self._wake.set()

    async def announce_once(self) -> list[int]:
        """Announce mode: open a watch in the announce channel for each plan that started running."""
        channel = self.config.announce_channel
        if not channel or self._plans is None:
            return []
        try:
            plans = await self._reader.all_pages(lambda start, limit: self._plans_page(start, limit))
        except VroError as exc:
            log.warning("announce: could not list plans (%s)", type(exc).__name__)
            return []
        running = {p.id: p for p in plans if p.state and plan_states.is_running(p.state)}
        async with reading(self._sessions) as session:
            watched = set(
                (await session.scalars(select(Watch.plan_id).where(Watch.status == STATUS_ACTIVE))).all()
            )
        started = []
        for plan_id, plan in running.items():
            if plan_id in watched or plan_id in self._announced:
                continue
            started.append(await self.start_watch(plan_id, channel, plan_name=plan.name))
            self._announced.add(plan_id)
        self._announced &= set(running)  # a plan that stops running may be announced next time
        return started

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        """Poll forever (until ``stop`` is set): each watch when its turn comes."""
        stop = stop or asyncio.Event()
        polls: dict[int, asyncio.Task[None]] = {}
        while not stop.is_set():
            self._wake.clear()
            try:
                if self._clock.monotonic() >= self._next_heartbeat:
                    # Renew this process's leases (a lease is short: a dead owner's lapses in seconds).
                    self._next_heartbeat = self._clock.monotonic() + self.config.heartbeat_seconds
                    await self._leases.renew()
                await self._start_due(polls)
                await self._boards_due()
                if self.config.announce_channel and self._clock.monotonic() >= self._next_announce:
                    self._next_announce = self._clock.monotonic() + self.config.announce_seconds
                    await self.announce_once()
            except Exception:
                log.exception("watcher cycle failed")
            # Wake at least every heartbeat: renew this process's leases, adopt a dead one's watches.
            beat = max(0.0, self._next_heartbeat - self._clock.monotonic())
            delay = min(
                await self._leases.next_due_in(busy=tuple(polls), at_most=self.config.poll_max_seconds), beat
            )
            if self.config.board_min_runs > 0:
                delay = min(delay, max(0.0, self._next_boards - self._clock.monotonic()))
            if polls and len(polls) >= self.config.concurrency:
                # No room: the first poll to finish wakes the loop (or the next heartbeat).
                await first_of(self._clock.sleep(beat), self._wake.wait(), stop.wait())
            else:
                await first_of(self._clock.sleep(delay), self._wake.wait(), stop.wait())
        if polls:
            await asyncio.gather(*polls.values(), return_exceptions=True)
        await self._leases.release()

    async def heartbeat(self) -> int:
        """Renew the leases this process holds (a lease is short: a dead owner's lapses in seconds)."""
        return await self._leases.renew()

    async def release(self) -> None:
        """Give up this process's leases (shutdown), so another replica takes over at once."""
        await self._leases.release()

    async def _refresh_loads(self) -> None:
        if self.config.batch_seconds > 0:  # the loads only pace batching
            await self._loads.refresh()

    # -- one poll --------------------------------------------------------------------------------

    async def _plans_page(self, start: int | None, limit: int | None) -> Page[Any]:
        assert self._plans is not None
        return await self._plans.get_plans(start=start, limit=limit)

    # -- small things ----------------------------------------------------------------------------

    async def _postpone(self, watch_id: int) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Watch)
                .where(Watch.id == watch_id, Watch.lease_owner == self.owner)
                .values(next_poll_at=now + timedelta(seconds=self.config.poll_max_seconds))
            )
        self.polling.forget(watch_id)

    async def _active_watch_id(self, plan_id: str, channel: str) -> int | None:
        async with reading(self._sessions) as session:
            found: int | None = await session.scalar(
                select(Watch.id).where(
                    Watch.plan_id == plan_id, Watch.channel == channel, Watch.status == STATUS_ACTIVE
                )
            )
        return found

    def _notify(self) -> None:
        if self._on_outbox is not None:
            self._on_outbox()
