"""The watcher: follows running plans through RuntimeDetails and narrates them via the outbox.

One poll of one watch (:meth:`Watcher.poll_once` runs one over every due watch):

1. read the plan's RuntimeDetails; its groups only when the plan moved; a group's VMs (or a
   virtual group's steps) only when that group moved; a VM's steps only when the VM moved; a
   step's details only when it ended with a warning or an error;
2. diff the observation against the stored snapshot into events (:func:`bot.watcher.diff.advance`);
3. in ONE transaction, guarded by the watch's lease and revision: store the new snapshot (only
   the items that changed: :mod:`bot.watcher.store`) and event cursor, and write the outbox rows
   (batched thread messages, the status card edit, the summary) under keys derived from the
   watch id and the event sequence.

Because the events, the cursor and the outbox rows commit together, a crash anywhere replays
the poll from the last stored snapshot and produces the same keys: no duplicate, no gap.

Replicas: a watch is leased (``UPDATE ... WHERE lease expired OR owner = me``) for a short
time (15 s) that the run loop renews every few seconds, so on PostgreSQL two replicas never poll
the same watch, and a watch whose owner died is taken over (and polled at once) within seconds.
SQLite is single-replica: it serializes writers, but use one bot process on SQLite.

Action watches are opened by the send's claim (:mod:`bot.watcher.lifecycle`) with a baseline:
whether the action ran is judged on VRO's data against it, never on the bot's clock. One that
shows no run by its ``no_run_deadline`` ends with a plain notice.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Table, Update, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, first_of
from bot.db import reading
from bot.outbox.store import enqueue_post
from bot.outbox.tables import PRIORITY_NORMAL, PRIORITY_NOTICE
from bot.slack.blocks.kit import esc
from bot.slack.message import Message
from bot.vro import plan_states
from bot.vro.errors import VroAuthError, VroError, VroNotFound, VroUnavailable
from bot.vro.models import Page, PlanRuntimeDetails
from bot.watcher.batching import RunPace, is_urgent, should_write
from bot.watcher.board import tally_of
from bot.watcher.boards import ChannelBoards
from bot.watcher.config import FinishedRun, RunFinished, WatcherConfig, WatcherStats
from bot.watcher.diff import Event, advance
from bot.watcher.leases import WatchLeases
from bot.watcher.lifecycle import card_key, watch_info
from bot.watcher.narration import ChannelLoads, NarrationWrites
from bot.watcher.reader import RuntimeReader
from bot.watcher.render import WatchInfo, status_card, thread_messages
from bot.watcher.snapshot import (
    Snapshot,
)
from bot.watcher.source import PlanLister, RuntimeSource
from bot.watcher.store import SnapshotChanges, load_snapshot, save_items
from bot.watcher.tables import STATUS_ACTIVE, STATUS_FINISHED, STATUS_NO_RUN, STATUS_STOPPED, Watch

__all__ = ["FinishedRun", "RunFinished", "Watcher", "WatcherConfig", "WatcherStats"]

log = logging.getLogger(__name__)

T = TypeVar("T")

TEXT_NO_RUN = (
    "🤷 VRO shows no run of *{action}* for *{plan}* in the {minutes} minutes since it was sent, "
    "so I stop watching. Check `/vro status {plan}`; ask again if it is still needed."
)


@dataclass
class _Cached:
    revision: int
    snapshot: Snapshot
    card_hash: str = ""


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
        self._record_lag = record_lag
        self._cache: dict[int, _Cached] = {}
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
                watch = Watch(
                    plan_id=plan_id,
                    plan_name=plan_name or plan_id,
                    channel=channel,
                    thread_ts=parent_ts,
                    request_id=request_id,
                    action=action,
                    requested_by=requested_by,
                    approved_by=list(approved_by),
                    status=STATUS_ACTIVE,
                    snapshot=None,
                    sequence=0,
                    revision=0,
                    pending=[],
                    card_rev=0,
                    card_written_at=now,
                    next_poll_at=now,
                    interval_seconds=self.config.poll_seconds,
                    vro_unreachable=False,
                    started_at=now,
                )
                session.add(watch)
                await session.flush()
                watch.card_key = card_key(watch.id)
                await enqueue_post(
                    session,
                    key=watch.card_key,
                    channel=channel,
                    message=status_card(info, Snapshot(), now=now),
                    now=now,
                    thread_ts=parent_ts,
                )
                watch_id = watch.id
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
                pending = [*(_load_event(e) for e in row.pending), stop]
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
            self._cache.pop(row.id, None)
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
            await self._poll_watch(row)
        except Exception:
            log.exception("watch %s: poll failed; trying again later", row.id)
            await self._postpone(row.id)

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

    async def _snapshot(self, row: Watch) -> Snapshot:
        """The watch's snapshot: from memory when this process wrote the current revision."""
        cached = self._cache.get(row.id)
        if cached is not None and cached.revision == row.revision:
            return cached.snapshot
        async with reading(self._sessions) as session:
            snapshot = await load_snapshot(session, row.id)
        self._cache[row.id] = _Cached(revision=row.revision, snapshot=snapshot)
        return snapshot

    async def _poll_watch(self, row: Watch) -> None:
        watch_id = row.id
        snapshot = await self._snapshot(row)
        self.stats.polls += 1
        self.stats.polled[watch_id] += 1
        events: list[Event] = []
        unreachable = row.vro_unreachable
        try:
            obs = await self._reader.observe(row.plan_id, snapshot)
        except VroError as exc:
            obs = None
            self.stats.unreachable += 1
            if not row.vro_unreachable:
                log.warning(
                    "watch %s: VRO unreachable for plan %s (%s)", watch_id, row.plan_id, type(exc).__name__
                )
                events.append(
                    Event(kind="vro_unreachable", name=row.plan_name, text=_reason(exc), at=self._clock.now())
                )
            unreachable = True
        now = self._clock.now()
        if obs is None:
            new_snapshot = snapshot
            interval = self._slower(row.interval_seconds)
        else:
            if row.vro_unreachable:
                events.append(Event(kind="vro_back", name=row.plan_name, at=now))
            unreachable = False
            baseline = PlanRuntimeDetails.model_validate(row.baseline) if row.baseline else None
            new_snapshot, found = advance(snapshot, obs, baseline=baseline)
            events.extend(found)
            running = new_snapshot.plan is not None and new_snapshot.plan.running
            interval = self.config.poll_seconds if (running or found) else self._slower(row.interval_seconds)
        no_run = (
            row.no_run_deadline is not None
            and now >= row.no_run_deadline
            and not new_snapshot.seen_running
            and not new_snapshot.finished
            and not any(e.kind == "finished" for e in events)
        )
        if no_run:
            await self._close_no_run(row, snapshot, new_snapshot, now=now)
            return
        await self._commit(
            row, snapshot, new_snapshot, events, now=now, interval=interval, unreachable=unreachable
        )

    async def _close_no_run(self, row: Watch, old: Snapshot, snapshot: Snapshot, *, now: datetime) -> None:
        """The action's watch saw no run in VRO by its deadline: a plain notice, and it ends."""
        changes = SnapshotChanges.between(row.id, old, snapshot)
        head = {} if changes.head is None else {"snapshot": changes.head}
        minutes = max(1, round((now - row.started_at).total_seconds() / 60))
        text = TEXT_NO_RUN.format(
            action=esc(row.action or "the action"), plan=esc(row.plan_name), minutes=minutes
        )
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Watch)
                .where(Watch.id == row.id, Watch.revision == row.revision, Watch.lease_owner == self.owner)
                .where(Watch.status == STATUS_ACTIVE)
                .values(
                    status=STATUS_NO_RUN,
                    finished_at=now,
                    note="no run seen",
                    **head,
                    revision=row.revision + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    card_rev=row.card_rev + 1,
                )
            )
            if not getattr(result, "rowcount", 0):
                self.stats.lost_leases += 1
                await session.rollback()
                return
            await save_items(session, changes)
            await enqueue_post(
                session,
                key=f"watch:{row.id}:no-run",
                channel=row.channel,
                message=Message(text=text),
                now=now,
                broadcast=True,
                **self._writes.thread(row),
            )
            await self._writes.card(
                session, row, row.card_rev + 1, watch_info(row), snapshot, now, status=STATUS_NO_RUN
            )
        self.stats.snapshot_bytes += changes.size
        self._cache.pop(row.id, None)
        self._notify()

    async def _commit(
        self,
        row: Watch,
        old: Snapshot,
        new: Snapshot,
        events: list[Event],
        *,
        now: datetime,
        interval: float,
        unreachable: bool,
    ) -> None:
        numbered = [e.model_copy(update={"seq": row.sequence + i}) for i, e in enumerate(events, start=1)]
        pending = [*(_load_event(e) for e in row.pending), *numbered]
        opened = row.batch_opened_at or (now if numbered else None)
        finished = any(e.kind == "finished" for e in numbered)
        urgent = is_urgent(e.kind for e in numbered)
        pace = RunPace(
            messages=row.thread_messages or 0,
            flushed_at=row.flushed_at,
            pending=len(pending),
            elapsed_seconds=(now - row.started_at).total_seconds(),
            progress=new.plan.progress if new.plan is not None else 0.0,
        )
        flush = should_write(self.config.batching, pace, self._loads.of(row.channel), now=now, urgent=urgent)
        plan_name = new.plan.name if new.plan is not None and new.plan.name else row.plan_name
        info = watch_info(row, plan_name=plan_name)
        messages = thread_messages(pending, info=info) if flush else []
        status = STATUS_FINISHED if finished else STATUS_ACTIVE
        cached = self._cache.get(row.id)
        card_due = (
            row.card_written_at is None
            or (now - row.card_written_at).total_seconds() >= self.config.card_interval
        )
        card: Message | None = None
        card_hash = cached.card_hash if cached is not None else ""
        write_card = False
        tally: dict[str, Any] | None = None
        if card_due or flush or finished:  # rendering the card is only worth it when it may go out
            card = status_card(info, new, now=now, status=status, vro_unreachable=unreachable)
            write_card = cached is None or cached.card_hash != (card_hash := _hash(card))
            tally = tally_of(new).to_json() if self.config.board_min_runs > 0 else None
        card_rev = row.card_rev + 1 if write_card else row.card_rev
        next_poll = now + timedelta(seconds=interval)
        values: dict[str, Any] = {
            "sequence": row.sequence + len(numbered),
            "revision": row.revision + 1,
            "pending": [] if flush else [_dump_event(e) for e in pending],
            "batch_opened_at": None if flush else opened,
            "card_rev": card_rev,
            "card_written_at": now if write_card else row.card_written_at,
            "next_poll_at": next_poll,
            "interval_seconds": interval,
            "vro_unreachable": unreachable,
            "lease_expires_at": now + timedelta(seconds=self.config.lease_seconds),
            "plan_name": plan_name,
        }
        if flush:
            values.update(thread_messages=pace.messages + len(messages), flushed_at=now)
        if tally is not None and tally != row.tally:
            values["tally"] = tally
        changes = SnapshotChanges.between(row.id, old, new)
        if changes.head is not None:
            values["snapshot"] = changes.head
        if finished:
            values.update(status=STATUS_FINISHED, finished_at=now, lease_owner=None, lease_expires_at=None)
        params = {f"v_{key}": value for key, value in values.items()}
        params.update(w_id=row.id, w_revision=row.revision, w_owner=self.owner)
        async with self._sessions() as session, session.begin():
            result = await session.execute(_advance_statement(frozenset(values)), params)
            if not getattr(result, "rowcount", 0):
                # Stopped, or leased by another replica meanwhile: this poll never happened.
                self.stats.lost_leases += 1
                self._cache.pop(row.id, None)
                await session.rollback()
                return
            await save_items(session, changes)
            wrote = False
            if flush:
                wrote = await self._writes.thread_replies(session, row, pending, now, messages) or wrote
            if finished:
                wrote = await self._writes.summary(session, row, info, new, now) or wrote
            if write_card:
                priority = PRIORITY_NOTICE if urgent else PRIORITY_NORMAL
                wrote = (
                    await self._writes.card(
                        session, row, card_rev, info, new, now, status=status, card=card, priority=priority
                    )
                    or wrote
                )
        self.stats.events += len(numbered)
        self.stats.snapshot_bytes += changes.size
        if finished:
            self._cache.pop(row.id, None)
        else:
            self._cache[row.id] = _Cached(revision=row.revision + 1, snapshot=new, card_hash=card_hash)
        if self._record_lag and flush:
            self._lags(row.id, pending, now)
        if wrote:
            self._notify()

    async def _plans_page(self, start: int | None, limit: int | None) -> Page[Any]:
        assert self._plans is not None
        return await self._plans.get_plans(start=start, limit=limit)

    # -- small things ----------------------------------------------------------------------------

    def _slower(self, interval: float) -> float:
        return min(
            self.config.poll_max_seconds, max(interval, self.config.poll_seconds) * self.config.backoff_factor
        )

    async def _postpone(self, watch_id: int) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Watch)
                .where(Watch.id == watch_id, Watch.lease_owner == self.owner)
                .values(next_poll_at=now + timedelta(seconds=self.config.poll_max_seconds))
            )
        self._cache.pop(watch_id, None)

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

    def _lags(self, watch_id: int, events: Iterable[Event], now: datetime) -> None:
        for event in events:
            if event.at is not None and event.kind in ("started", "completed", "failed", "skipped"):
                self.stats.lags.append((now - event.at).total_seconds())
                self.stats.transitions.append((watch_id, event.seq, event.kind, event.scope, event.at))


@functools.cache
def _advance_statement(columns: frozenset[str]) -> Update:
    """The poll's guarded UPDATE of ``columns``, built once per column set (bound ``v_<column>``).

    Building the statement anew on every poll (ORM attribute comparisons, coercions) cost more
    CPU than running it.
    """
    table = Watch.__table__
    assert isinstance(table, Table)
    return (
        update(table)
        .where(
            table.c.id == bindparam("w_id"),
            table.c.revision == bindparam("w_revision"),
            table.c.lease_owner == bindparam("w_owner"),
            table.c.status == STATUS_ACTIVE,
        )
        .values({name: bindparam(f"v_{name}", type_=table.c[name].type) for name in sorted(columns)})
    )


def _dump_event(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude_defaults=True)


def _load_event(data: dict[str, Any] | Event) -> Event:
    return data if isinstance(data, Event) else Event.model_validate(data)


def _hash(message: Message) -> str:
    return hashlib.sha256(json.dumps(message.payload(), sort_keys=True).encode()).hexdigest()


def _reason(exc: VroError) -> str:
    """Why VRO did not answer, in a few words for the channel (no paths, no secrets)."""
    if isinstance(exc, VroAuthError):
        return "it refused the bot's credentials"
    if isinstance(exc, VroNotFound):
        return "it has no run details for this plan"
    if isinstance(exc, VroUnavailable):
        return f"HTTP {exc.status}" if exc.status else "no answer"
    return "an answer I could not read"
