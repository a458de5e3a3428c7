"""One poll of one watch: read VRO, diff against the snapshot, commit what changed.

1. read the plan's RuntimeDetails; its groups only when the plan moved; a group's VMs (or a
   virtual group's steps) only when that group moved; a VM's steps only when the VM moved; a
   step's details only when it ended with a warning or an error (:mod:`bot.watcher.reader`);
2. diff the observation against the stored snapshot into events (:func:`bot.watcher.diff.advance`);
3. in ONE transaction, guarded by the watch's lease and revision: store the new snapshot (only
   the items that changed: :mod:`bot.watcher.store`) and event cursor, and write the outbox rows
   (batched thread messages, the status card edit, the summary: :mod:`bot.watcher.narration`)
   under keys derived from the watch id and the event sequence.

Because the events, the cursor and the outbox rows commit together, a crash anywhere replays
the poll from the last stored snapshot and produces the same keys: no duplicate, no gap.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import reading
from bot.outbox.store import enqueue_post
from bot.outbox.tables import PRIORITY_NORMAL, PRIORITY_NOTICE
from bot.slack.blocks.kit import clip, esc
from bot.slack.message import Message
from bot.vro.errors import VroAuthError, VroError, VroNotFound, VroUnavailable
from bot.vro.models import PlanRuntimeDetails
from bot.watcher.batching import RunPace, is_urgent, should_write
from bot.watcher.board import tally_of
from bot.watcher.config import WatcherConfig, WatcherStats
from bot.watcher.counts import run_counts
from bot.watcher.diff import Event, advance
from bot.watcher.lifecycle import watch_info
from bot.watcher.narration import ChannelLoads, NarrationWrites
from bot.watcher.reader import RuntimeReader
from bot.watcher.render import status_card, thread_messages
from bot.watcher.snapshot import Snapshot
from bot.watcher.store import SnapshotChanges, load_snapshot, save_items
from bot.watcher.tables import STATUS_ACTIVE, STATUS_FINISHED, STATUS_NO_RUN, Watch

log = logging.getLogger(__name__)

TEXT_NO_RUN = (
    "🤷 VRO shows no run of *{action}* for *{plan}* in the {minutes} minutes since it was sent, "
    "so I stop watching. Check `/vro status {plan}`; ask again if it is still needed."
)

FAILURES_BEFORE_NOTICE = 3
"""Polls of a watch that fail in a row (not VRO being away: that has its own notice) before the
thread is told the bot cannot follow the run."""
TEXT_FAILING = (
    "⚠️ I can't follow *{plan}* at the moment: reading its progress failed {failures} times in a "
    "row, on my side. I keep trying every {seconds} s and will say here when it works again; "
    "meanwhile `/vro status {plan}` or VRO's console shows where the run is."
)
TEXT_FOLLOWING_AGAIN = "✅ I can follow *{plan}* again: its progress continues below."


@dataclass
class _Cached:
    revision: int
    snapshot: Snapshot
    card_hash: str = ""


class WatchPoll:
    """Polls one leased watch at a time (many at once), keeping snapshots this process wrote."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        config: WatcherConfig,
        owner: str,
        stats: WatcherStats,
        reader: RuntimeReader,
        writes: NarrationWrites,
        loads: ChannelLoads,
        notify: Callable[[], None],
        record_lag: bool = False,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self.config = config
        self.owner = owner
        self.stats = stats
        self._reader = reader
        self._writes = writes
        self._loads = loads
        self._notify = notify
        self._record_lag = record_lag
        self._cache: dict[int, _Cached] = {}
        self._writing = asyncio.Semaphore(config.write_concurrency)
        self._failures: dict[int, int] = {}  # watch id -> polls failed in a row here
        self._told_failing: dict[int, str] = {}  # watch id -> key of the notice in its thread

    def forget(self, watch_id: int) -> None:
        """Drop what is cached of ``watch_id`` (it was written elsewhere, or it ended)."""
        self._cache.pop(watch_id, None)

    async def failed(self, row: Watch) -> None:
        """A poll of ``row`` failed on the bot's side (logged by the caller).

        After :data:`FAILURES_BEFORE_NOTICE` in a row, the thread is told, once: nobody should
        read a silent thread as a run that stopped moving. The notice's key holds the watch's
        revision (which every poll that goes through moves on), so a replica that takes the watch
        over and fails on it too does not post it again, and a later bout of failures does.
        """
        failures = self._failures[row.id] = self._failures.get(row.id, 0) + 1
        if failures != FAILURES_BEFORE_NOTICE:
            return
        key = f"watch:{row.id}:failing:{row.revision}"
        text = TEXT_FAILING.format(
            plan=esc(row.plan_name), failures=failures, seconds=round(self.config.poll_max_seconds)
        )
        await self._tell(row, key, text)
        self._told_failing[row.id] = key

    async def _tell(self, row: Watch, key: str, text: str) -> None:
        async with self._sessions() as session, session.begin():
            await self._notice(session, row, key, text, now=self._clock.now())
        self._notify()

    async def _notice(self, session: AsyncSession, row: Watch, key: str, text: str, *, now: datetime) -> None:
        await enqueue_post(
            session,
            key=key,
            channel=row.channel,
            message=Message(text=text),
            now=now,
            priority=PRIORITY_NOTICE,
            **self._writes.thread(row),
        )

    def cached_snapshot(self, watch_id: int) -> Snapshot | None:
        """The snapshot this process wrote last for ``watch_id``, if it holds one."""
        cached = self._cache.get(watch_id)
        return cached.snapshot if cached is not None else None

    async def snapshot(self, row: Watch) -> Snapshot:
        """The watch's snapshot: from memory when this process wrote the current revision."""
        cached = self._cache.get(row.id)
        if cached is not None and cached.revision == row.revision:
            return cached.snapshot
        async with reading(self._sessions) as session:
            snapshot = await load_snapshot(session, row.id)
        self._cache[row.id] = _Cached(revision=row.revision, snapshot=snapshot)
        return snapshot

    async def poll(self, row: Watch) -> None:
        """One poll of one leased watch: read VRO, diff, and commit what it found (or nothing)."""
        watch_id = row.id
        snapshot = await self.snapshot(row)
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
            # An action was sent and its run is not seen yet: it may start any moment (VRO queues
            # it, a readiness check goes first), so the watch keeps its pace until the run shows
            # or the no-run deadline passes, instead of backing off to a minute.
            awaited = (
                row.no_run_deadline is not None
                and not new_snapshot.seen_running
                and not new_snapshot.finished
            )
            eager = running or found or awaited
            interval = self.config.poll_seconds if eager else self._slower(row.interval_seconds)
        no_run = (
            obs is not None  # VRO did not answer: what it did meanwhile is unknown, not "no run"
            and row.no_run_deadline is not None
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
        async with self._writing, self._sessions() as session, session.begin():
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
        if self._record_lag:
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
        pending = [*(load_event(e) for e in row.pending), *numbered]
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
            counts = run_counts(new)  # the card's and the board line's
            card = status_card(info, new, now=now, status=status, vro_unreachable=unreachable, counts=counts)
            write_card = cached is None or cached.card_hash != (card_hash := card.digest())
            tally = tally_of(new, counts).to_json() if self.config.board_min_runs > 0 else None
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
        async with self._writing, self._sessions() as session, session.begin():
            result = await session.execute(_advance_statement(frozenset(values)), params)
            if not getattr(result, "rowcount", 0):
                # Stopped, or leased by another replica meanwhile: this poll never happened.
                self.stats.lost_leases += 1
                self._cache.pop(row.id, None)
                await session.rollback()
                return
            await save_items(session, changes)
            wrote = False
            if (failing := self._told_failing.get(row.id)) is not None:
                # Ahead of what this poll narrates: the thread said the bot could not follow.
                text = TEXT_FOLLOWING_AGAIN.format(plan=esc(plan_name))
                await self._notice(session, row, f"{failing}:over", text, now=now)
                wrote = True
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
        self._failures.pop(row.id, None)  # a poll went through: failures in a row start over
        self._told_failing.pop(row.id, None)
        if self._record_lag:
            self.stats.snapshot_bytes += changes.size
        if finished:
            self._cache.pop(row.id, None)
        else:
            self._cache[row.id] = _Cached(revision=row.revision + 1, snapshot=new, card_hash=card_hash)
        if self._record_lag and flush:
            self._lags(row.id, pending, now)
        if wrote:
            self._notify()

    def _slower(self, interval: float) -> float:
        return min(
            self.config.poll_max_seconds, max(interval, self.config.poll_seconds) * self.config.backoff_factor
        )

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


def load_event(data: dict[str, Any] | Event) -> Event:
    return data if isinstance(data, Event) else Event.model_validate(data)


def _reason(exc: VroError) -> str:
    """Why VRO did not answer, in a few words for the channel (no paths, no secrets)."""
    if isinstance(exc, VroAuthError):
        return "it refused the bot's credentials"
    if isinstance(exc, VroNotFound):
        return "it has no run details for this plan"
    if isinstance(exc, VroUnavailable):
        return f"HTTP {exc.status}" if exc.status else "no answer"
    if exc.status and exc.status >= 400:
        # VRO answered with an error: its status and, when it gave one, its own words.
        said = f": {clip(exc.vro_message, 120)}" if exc.vro_message else ""
        return f"HTTP {exc.status}{said}"
    return "an answer I could not read"
