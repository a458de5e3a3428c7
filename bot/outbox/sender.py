"""Draining the outbox into Slack at Slack's pace, exactly once.

Per channel, posts go out in the order they were written (a thread reply never overtakes the
message it answers), no faster than a token bucket allows (about one a second, a small burst
saved up). Edits of one message collapse to the newest and go out at most every few seconds.

Exactly once, through crashes and a second replica:

* a row is *claimed* (``UPDATE ... WHERE`` unclaimed or claim expired) and marked ``in_doubt``
  in its own transaction before Slack is called, so only one sender sends it;
* the message carries its key in Slack metadata; a row still ``in_doubt`` when it is picked up
  again (the sender crashed after Slack answered, or the answer was lost) is first looked up
  in the thread or channel, and only posted when Slack does not have it;
* 429 waits for Retry-After; 5xx and network errors back off with jitter, a bounded number of
  times; permanent errors are recorded as ``failed`` and reported to ``on_failure``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, Update, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningUpdate

from bot.clock import Clock, first_of
from bot.db import reading
from bot.outbox.poster import (
    PermanentError,
    RateLimited,
    SlackDeliveryError,
    SlackPoster,
    TransientError,
)
from bot.outbox.ratelimit import TokenBucket
from bot.outbox.scheduling import WaitingEdit, WaitingPost, edit_order, next_post
from bot.outbox.tables import (
    KIND_POST,
    KIND_UPDATE,
    PRIORITY_NORMAL,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_SENT,
    STATUS_SUPERSEDED,
    OutboxMessage,
)

log = logging.getLogger(__name__)

DEFAULT_BURST = 3
DEFAULT_RATE_PER_SECOND = (60 - DEFAULT_BURST) / 60
"""Slack allows about 1 post per second per channel, sustained. With a saved-up burst of 3,
a refill of 57 a minute keeps every 60 s window at 60 posts or fewer."""
DEFAULT_UPDATE_INTERVAL = 3.0
# chat.update is Tier 3 (about 50 a minute for the whole app): one shared bucket.
DEFAULT_UPDATE_RATE = 50 / 60
DEFAULT_UPDATE_BURST = 5
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_MAX = 60.0
DEFAULT_CLAIM_SECONDS = 120.0
DEFAULT_SEND_SECONDS = 11.0
"""The longest one Slack call may take (the poster's timeout, plus a margin). A post only
starts while its claim has at least this long left, so no other sender can take the row over
while the call is in flight."""
DEFAULT_IDLE_SECONDS = 1.0
DEFAULT_MIN_PASS_SECONDS = 0.25
MAX_SERVED_THREADS = 4096  # threads remembered per channel for fairness (pruned beyond)
MAX_ROUNDS = 3  # rounds of a pass: a reply or an edit may follow the message it needs at once
MAX_REMEMBERED = 20_000  # keys of sent messages remembered with their ts (replies and edits need them)
# How far before a row's creation the crash-recovery lookup searches the channel history.
LOOKUP_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True)
class DeliveryFailure:
    """A message Slack will not take: which one, where, and Slack's error code."""

    key: str
    channel: str
    error: str


FailureHook = Callable[[DeliveryFailure], Awaitable[None]]


@dataclass
class SenderStats:
    """Counters for metrics and benchmarks; ``post_times`` are monotonic seconds per channel."""

    posts: int = 0
    updates: int = 0
    lookups: int = 0
    found_by_lookup: int = 0
    rate_limited: int = 0
    transient_errors: int = 0
    failed: int = 0
    superseded: int = 0
    post_times: dict[str, deque[float]] = field(default_factory=dict)

    def record_post(self, channel: str, at: float) -> None:
        self.posts += 1
        self.post_times.setdefault(channel, deque(maxlen=10_000)).append(at)

    def max_posts_in(self, window: float) -> int:
        """The most posts any channel saw within ``window`` seconds."""
        best = 0
        for times in self.post_times.values():
            ordered = list(times)
            lo = 0
            for hi, t in enumerate(ordered):
                while t - ordered[lo] >= window:
                    lo += 1
                best = max(best, hi - lo + 1)
        return best


class OutboxSender:
    """Sends pending outbox rows; one instance per process (any number of processes)."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        poster: SlackPoster,
        clock: Clock,
        owner: str | None = None,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        burst: int = DEFAULT_BURST,
        update_interval: float = DEFAULT_UPDATE_INTERVAL,
        update_rate: float = DEFAULT_UPDATE_RATE,
        update_burst: int = DEFAULT_UPDATE_BURST,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        claim_seconds: float = DEFAULT_CLAIM_SECONDS,
        send_seconds: float = DEFAULT_SEND_SECONDS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        min_pass_seconds: float = DEFAULT_MIN_PASS_SECONDS,
        rng: random.Random | None = None,
        on_failure: FailureHook | None = None,
    ) -> None:
        self._sessions = session_factory
        self._poster = poster
        self._clock = clock
        self.owner = owner or f"sender-{uuid.uuid4().hex[:12]}"
        self._rate = rate_per_second
        self._burst = burst
        self._update_interval = update_interval
        self._update_bucket = TokenBucket(rate=update_rate, burst=update_burst, clock=clock)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._claim = timedelta(seconds=claim_seconds)
        self._send = timedelta(seconds=send_seconds)
        self._idle = idle_seconds
        self._min_pass = min_pass_seconds
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._on_failure = on_failure
        self._buckets: dict[str, TokenBucket] = {}
        self._blocked_until: dict[str, float] = {}  # channel -> monotonic (after a 429)
        self._updates_blocked_until = 0.0
        self._last_update: dict[str, float] = {}  # target -> monotonic of the last edit sent
        self._served: dict[str, dict[str, float]] = {}  # channel -> thread -> monotonic last served
        self._sent: dict[str, str] = {}  # key -> ts of messages known to be in Slack
        self._wake_at: float | None = None
        self._wake = asyncio.Event()
        self.stats = SenderStats()

    # -- driving ---------------------------------------------------------------------------------

    def wake(self) -> None:
        """Tell a running sender that new rows are waiting (writers call this after commit)."""
        self._wake.set()

    async def send_due(self) -> int:
        """One pass: the posts every channel may send now, then the card edits the budget allows.

        The bookkeeping is batched: one read of what waits (and of the messages replies and
        edits refer to, unless this sender knows them already), one claim of everything the
        pass sends, the Slack calls (channels side by side, each channel in order), one write
        of what went out. Returns the number of Slack calls.
        """
        self._wake_at = None
        calls = 0
        for _ in range(MAX_ROUNDS):
            made, unblocked = await self._send_round()
            calls += made
            if not unblocked:
                break
        return calls

    async def _send_round(self) -> tuple[int, bool]:
        """One round of a pass: (Slack calls, whether it sent a message others were waiting for)."""
        now = self._clock.now()
        waiting, refs = await self._read_waiting()
        if not waiting:
            return 0, False
        posts: dict[str, list[OutboxMessage]] = {}
        edits: list[OutboxMessage] = []
        for row in waiting:
            if row.kind == KIND_POST:
                posts.setdefault(row.channel, []).append(row)
            elif row.kind == KIND_UPDATE:
                edits.append(row)
        failed: list[tuple[OutboxMessage, str]] = []
        chosen_posts = [
            chosen
            for channel, rows in posts.items()
            for chosen in self._choose_posts(channel, rows, refs, now, failed)
        ]
        chosen_edits = await self._choose_edits(edits, refs, now, failed) if edits else []
        for row, error in failed:
            await self._fail(row, error)
        if not chosen_posts and not chosen_edits:
            return 0, False
        payloads = await self._claim_rows(
            [row.id for row, _ in chosen_posts], [row.id for row, _, _ in chosen_edits], now
        )
        by_channel: dict[str, list[tuple[OutboxMessage, str | None, dict[str, Any]]]] = {}
        for row, thread_ts in chosen_posts:
            if row.id in payloads:
                by_channel.setdefault(row.channel, []).append((row, thread_ts, payloads[row.id]))
        sent: list[tuple[int, str]] = []
        counts = await asyncio.gather(
            *(self._deliver_posts(batch, sent, claimed_at=now) for batch in by_channel.values())
        )
        calls = sum(counts)
        for row, target, ts in chosen_edits:
            if row.id not in payloads:
                continue
            if self._updates_blocked_until > self._clock.monotonic():
                await self._release(row.id)  # Slack said 429 on an edit meanwhile
                continue
            calls += await self._send_update(target, row, ts, payloads[row.id], sent)
        await self._mark_sent_many(sent)
        sent_keys = {row.key for row, _ in chosen_posts if row.key in self._sent}
        unblocked = any(row.parent_key in sent_keys or row.target_key in sent_keys for row in waiting)
        return calls, unblocked

    async def pending_count(self) -> int:
        async with reading(self._sessions) as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == STATUS_PENDING)
            )
        return int(count or 0)

    def next_wake_in(self) -> float:
        """Seconds until the last pass said something becomes sendable (idle interval if unknown)."""
        if self._wake_at is None:
            return self._idle
        return max(0.0, self._wake_at - self._clock.monotonic())

    async def run_until_idle(self, *, max_seconds: float = 3600.0) -> None:
        """Send until nothing is pending, sleeping on the clock in between (tests, the demo, drain).

        Raises ``TimeoutError`` if rows are still pending after ``max_seconds`` of clock time.
        """
        deadline = self._clock.monotonic() + max_seconds
        while True:
            await self.send_due()
            if await self.pending_count() == 0:
                return
            if self._clock.monotonic() >= deadline:
                raise TimeoutError(f"outbox still has pending messages after {max_seconds:g}s")
            await self._clock.sleep(max(self.next_wake_in(), 0.001))

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        """Send forever (until ``stop`` is set): after each pass, sleep until due or woken.

        Wake-ups closer together than ``min_pass_seconds`` share one pass, so a busy writer
        (one commit per watch per poll) does not make the sender re-read every channel each time.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set():
            started = self._clock.monotonic()
            try:
                await self.send_due()
            except Exception:
                log.exception("outbox pass failed; retrying after %ss", self._idle)
            self._wake.clear()
            await first_of(self._clock.sleep(self.next_wake_in()), self._wake.wait(), stop.wait())
            rest = self._min_pass - (self._clock.monotonic() - started)
            if rest > 0 and not stop.is_set():
                await first_of(self._clock.sleep(rest), stop.wait())

    # -- posts -----------------------------------------------------------------------------------

    def _bucket(self, channel: str) -> TokenBucket:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = TokenBucket(
                rate=self._rate, burst=self._burst, clock=self._clock
            )
        return bucket

    def _note_wake(self, delay: float) -> None:
        at = self._clock.monotonic() + max(0.0, delay)
        if self._wake_at is None or at < self._wake_at:
            self._wake_at = at

    async def _read_waiting(self) -> tuple[list[OutboxMessage], dict[str, _Parent]]:
        """What waits (oldest first, without payloads), and the messages it refers to, by key."""
        async with reading(self._sessions) as session:
            result = await session.execute(_waiting_statement())
            waiting = [OutboxMessage(**row._mapping) for row in result]
            wanted = {row.parent_key for row in waiting if row.parent_key is not None}
            wanted |= {row.target_key for row in waiting if row.target_key is not None}
            refs = {key: _Parent(STATUS_SENT, self._sent[key]) for key in wanted if key in self._sent}
            unknown = sorted(wanted - refs.keys())
            for start in range(0, len(unknown), 500):
                found = await session.execute(
                    select(OutboxMessage.key, OutboxMessage.status, OutboxMessage.ts).where(
                        OutboxMessage.key.in_(unknown[start : start + 500])
                    )
                )
                for key, status, ts in found.tuples():
                    refs[key] = _Parent(status, ts)
                    if status == STATUS_SENT and ts is not None:
                        self._remember_sent(key, ts)
        return waiting, refs

    def _remember_sent(self, key: str, ts: str) -> None:
        self._sent[key] = ts
        if len(self._sent) > MAX_REMEMBERED:
            del self._sent[next(iter(self._sent))]

    def _choose_posts(
        self,
        channel: str,
        rows: list[OutboxMessage],
        refs: dict[str, _Parent],
        now: datetime,
        failed: list[tuple[OutboxMessage, str]],
    ) -> list[tuple[OutboxMessage, str | None]]:
        """The channel's posts to send in this pass, in order, as its budget allows (fairest first)."""
        blocked = self._blocked_until.get(channel, 0.0) - self._clock.monotonic()
        if blocked > 0:
            self._note_wake(blocked)
            return []
        bucket = self._bucket(channel)
        served = self._served.setdefault(channel, {})
        chosen: list[tuple[OutboxMessage, str | None]] = []
        rows = list(rows)
        while rows:
            if (wait := bucket.wait_time()) > 0:
                self._note_wake(wait)
                break
            by_id = {row.id: row for row in rows}
            choice = next_post(
                [
                    WaitingPost(
                        id=row.id,
                        thread=_thread_of(row),
                        priority=row.priority,
                        ready=self._post_ready(row, refs, now),
                    )
                    for row in rows
                ],
                served,
            )
            if choice is None:
                break
            row = by_id[choice.id]
            rows.remove(row)
            thread_ts, problem = _parent_ts(row, refs)
            if problem is not None:
                failed.append((row, problem))
                refs[row.key] = _Parent(STATUS_FAILED, None)  # its replies fail too
                continue
            if not bucket.try_take():
                break
            served[choice.thread] = self._clock.monotonic()
            chosen.append((row, thread_ts))
        if len(served) > MAX_SERVED_THREADS:  # forget threads with nothing waiting
            live = {_thread_of(row) for row in rows}
            self._served[channel] = {t: at for t, at in served.items() if t in live}
        return chosen

    def _post_ready(self, row: OutboxMessage, refs: dict[str, _Parent], now: datetime) -> bool:
        """Whether ``row`` may go now if it heads its thread (noting when to look again if not)."""
        if row.next_attempt_at > now:
            self._note_wake((row.next_attempt_at - now).total_seconds())
            return False
        if row.claimed_by not in (None, self.owner) and row.claimed_until and row.claimed_until > now:
            self._note_wake((row.claimed_until - now).total_seconds())
            return False  # another sender is on it
        if row.parent_key is not None:
            parent = refs.get(row.parent_key)
            if parent is not None and parent.status == STATUS_PENDING:
                self._note_wake(self._idle)
                return False  # the parent is not in Slack yet
        return True

    async def _claim_rows(
        self, post_ids: list[int], edit_ids: list[int], now: datetime
    ) -> dict[int, dict[str, Any]]:
        """Claim rows for this sender in one transaction; their payloads as of the claim, by id.

        Posts are marked ``in_doubt`` before Slack is called: after a crash, they are looked up
        before being posted again. A row another sender holds is left out.
        """
        params = {"o_owner": self.owner, "o_now": now, "o_until": now + self._claim}
        payloads: dict[int, dict[str, Any]] = {}
        async with self._sessions() as session, session.begin():
            for ids, in_doubt in ((post_ids, True), (edit_ids, False)):
                if ids:
                    result = await session.execute(_claim_many_statement(in_doubt), {**params, "o_ids": ids})
                    for row_id, payload in result.tuples():  # (a Result has keys(): not dict(...))
                        payloads[row_id] = payload
        return payloads

    async def _deliver_posts(
        self,
        batch: list[tuple[OutboxMessage, str | None, dict[str, Any]]],
        sent: list[tuple[int, str]],
        *,
        claimed_at: datetime,
    ) -> int:
        """One channel's posts of this pass, in order; stops at the first that did not go."""
        calls = 0
        for index, (row, thread_ts, payload) in enumerate(batch):
            if not await self._keep_claim(row.id, claimed_at):
                break  # another sender took this channel's rows over: they are its to send now
            made, ts = await self._deliver_post(row, thread_ts, payload)
            calls += made
            if ts is None:
                for rest, _, _ in batch[index + 1 :]:
                    await self._release(rest.id)
                break
            sent.append((row.id, ts))
            self._remember_sent(row.key, ts)
        return calls

    async def _keep_claim(self, row_id: int, claimed_at: datetime) -> bool:
        """Whether this sender may post row ``row_id`` now: its claim outlasts one Slack call.

        A pass claims its rows once, then posts them one after the other; a slow Slack can
        stretch that past the claim, after which another sender (a replica) may take a row and
        post it too. So before each post the claim must still have ``send_seconds`` left, or it
        is renewed, only if this sender still holds the row.
        """
        now = self._clock.now()
        if claimed_at + self._claim - now >= self._send:
            return True
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row_id,
                    OutboxMessage.status == STATUS_PENDING,
                    OutboxMessage.claimed_by == self.owner,
                )
                .values(claimed_until=now + self._claim)
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def _deliver_post(
        self, row: OutboxMessage, thread_ts: str | None, payload: dict[str, Any]
    ) -> tuple[int, str | None]:
        """Post one claimed row: (Slack calls made, the message's ts if it is in Slack now)."""
        calls = 0
        if row.in_doubt:
            # A previous attempt may have reached Slack: look before posting again.
            calls += 1
            self.stats.lookups += 1
            try:
                found = await self._poster.find_by_metadata(
                    channel=row.channel,
                    key=row.key,
                    thread_ts=thread_ts,
                    oldest=row.created_at - LOOKUP_MARGIN,
                )
            except PermanentError as exc:
                log.warning("outbox lookup for %s refused (%s); posting without it", row.key, exc.error)
                found = None
            except SlackDeliveryError as exc:
                await self._retry_later(row, exc)
                return calls, None
            if found is not None:
                self.stats.found_by_lookup += 1
                return calls, found
        calls += 1
        try:
            ts = await self._poster.post_message(
                channel=row.channel,
                text=str(payload.get("text", "")),
                blocks=payload.get("blocks") or None,
                thread_ts=thread_ts,
                reply_broadcast=row.broadcast,
                key=row.key,
            )
        except SlackDeliveryError as exc:
            await self._retry_later(row, exc)
            return calls, None
        self.stats.record_post(row.channel, self._clock.monotonic())
        return calls, ts

    # -- updates ---------------------------------------------------------------------------------

    async def _choose_edits(
        self,
        rows: list[OutboxMessage],
        refs: dict[str, _Parent],
        now: datetime,
        failed: list[tuple[OutboxMessage, str]],
    ) -> list[tuple[OutboxMessage, str, str]]:
        """The card edits to send in this pass: (row, target, ts), most urgent and stale first.

        Edits of one message collapse to the newest (the older ones are superseded).
        """
        wait = max(self._update_bucket.wait_time(), self._updates_blocked_until - self._clock.monotonic())
        if wait > 0:  # with the edit budget spent there is nothing to choose
            self._note_wake(wait)
            return []
        newest: dict[str, OutboxMessage] = {}
        stale: list[int] = []
        since: dict[str, datetime] = {}
        priority: dict[str, int] = {}
        for row in rows:
            target = row.target_key or f"ts:{row.target_ts}"
            if target in newest:
                stale.append(newest[target].id)
            newest[target] = row
            since[target] = min(since.get(target, row.created_at), row.created_at)
            priority[target] = max(priority.get(target, row.priority), row.priority)
        if stale:
            await self._supersede(stale)
        candidates = []
        for target, row in newest.items():
            if row.target_key is not None:
                found = refs.get(row.target_key)
                if found is None or found.status in (STATUS_FAILED, STATUS_SUPERSEDED):
                    failed.append((row, "target_failed" if found is not None else "target_missing"))
                    continue
            candidates.append(
                WaitingEdit(
                    target=target,
                    priority=priority[target],
                    stale_since=since[target].timestamp(),
                    ready=self._edit_ready(target, row, refs, now),
                )
            )
        chosen = []
        for edit in edit_order(candidates):
            if not self._update_bucket.try_take():
                self._note_wake(self._update_bucket.wait_time())
                break
            row = newest[edit.target]
            ts = row.target_ts or refs[row.target_key or ""].ts
            assert ts is not None  # ready: the message is in Slack
            chosen.append((row, edit.target, ts))
        return chosen

    def _edit_ready(
        self, target: str, row: OutboxMessage, targets: dict[str, _Parent], now: datetime
    ) -> bool:
        """Whether the edit may go now (noting when to look again if not)."""
        if row.next_attempt_at > now:
            self._note_wake((row.next_attempt_at - now).total_seconds())
            return False
        since = self._clock.monotonic() - self._last_update.get(target, float("-inf"))
        if since < self._update_interval:
            self._note_wake(self._update_interval - since)
            return False
        if row.target_key is not None:
            found = targets.get(row.target_key)
            if found is None or found.status != STATUS_SENT or found.ts is None:
                self._note_wake(self._idle)
                return False  # the message is not in Slack yet
        return True

    async def _send_update(
        self, target: str, row: OutboxMessage, ts: str, payload: dict[str, Any], sent: list[tuple[int, str]]
    ) -> int:
        # The payload as claimed: a writer may have refreshed a pending edit in place meanwhile.
        try:
            await self._poster.update_message(
                channel=row.channel,
                ts=ts,
                text=str(payload.get("text", "")),
                blocks=payload.get("blocks") or None,
                key=row.key,
            )
        except SlackDeliveryError as exc:
            await self._retry_later(row, exc)
            return 1
        self._last_update[target] = self._clock.monotonic()
        self.stats.updates += 1
        sent.append((row.id, ts))
        return 1

    async def _release(self, row_id: int) -> None:
        """Give back a claimed row this pass did not send (it stays pending, not in doubt)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == self.owner)
                .values(claimed_by=None, claimed_until=None)
            )

    async def _supersede(self, ids: list[int]) -> None:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == STATUS_PENDING)
                .values(status=STATUS_SUPERSEDED, claimed_by=None, claimed_until=None)
            )
        self.stats.superseded += int(getattr(result, "rowcount", 0) or 0)

    # -- outcomes --------------------------------------------------------------------------------

    async def _mark_sent_many(self, sent: list[tuple[int, str]]) -> None:
        """Record what went out in this pass, in one statement."""
        if not sent:
            return
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await session.execute(
                _mark_sent_statement(), [{"o_id": row_id, "o_ts": ts, "o_now": now} for row_id, ts in sent]
            )

    async def _retry_later(self, row: OutboxMessage, exc: SlackDeliveryError) -> None:
        now = self._clock.now()
        if isinstance(exc, RateLimited):
            self.stats.rate_limited += 1
            wait = max(0.0, exc.retry_after)
            if row.kind == KIND_POST:
                self._blocked_until[row.channel] = self._clock.monotonic() + wait
                self._bucket(row.channel).drain()
            else:
                self._updates_blocked_until = self._clock.monotonic() + wait
            self._note_wake(wait)
            # Slack refused it: certainly not posted, and a 429 does not count as an attempt.
            await self._reschedule(row.id, now + timedelta(seconds=wait), error=exc.error, in_doubt=False)
            return
        if isinstance(exc, PermanentError):
            if exc.channel_wide:
                await self._fail_channel(row.channel, exc.error)
            else:
                await self._fail(row, exc.error)
            return
        self.stats.transient_errors += 1
        attempts = row.attempts + 1
        if attempts >= self._max_attempts:
            await self._fail(row, f"gave up after {attempts} attempts: {exc.error}")
            return
        delay = min(self._backoff_max, self._backoff_base * 2 ** (attempts - 1))
        delay *= 0.5 + self._rng.random() / 2  # jitter: two senders never retry in lockstep
        self._note_wake(delay)
        await self._reschedule(
            row.id,
            now + timedelta(seconds=delay),
            error=exc.error,
            in_doubt=row.kind == KIND_POST and isinstance(exc, TransientError),
            count_attempt=True,
        )

    async def _reschedule(
        self, row_id: int, when: datetime, *, error: str, in_doubt: bool, count_attempt: bool = False
    ) -> None:
        values: dict[str, object] = {
            "next_attempt_at": when,
            "error": error,
            "in_doubt": in_doubt,
            "claimed_by": None,
            "claimed_until": None,
        }
        if count_attempt:
            values["attempts"] = OutboxMessage.attempts + 1
        async with self._sessions() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))

    async def _fail(self, row: OutboxMessage, error: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == STATUS_PENDING)
                .values(
                    status=STATUS_FAILED, error=error, in_doubt=False, claimed_by=None, claimed_until=None
                )
            )
        await self._report([DeliveryFailure(key=row.key, channel=row.channel, error=error)])

    async def _fail_channel(self, channel: str, error: str) -> None:
        """Every pending message of ``channel`` fails with ``error`` (the bot cannot post there)."""
        async with self._sessions() as session, session.begin():
            keys = (
                await session.scalars(
                    select(OutboxMessage.key).where(
                        OutboxMessage.channel == channel, OutboxMessage.status == STATUS_PENDING
                    )
                )
            ).all()
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.channel == channel, OutboxMessage.status == STATUS_PENDING)
                .values(
                    status=STATUS_FAILED, error=error, in_doubt=False, claimed_by=None, claimed_until=None
                )
            )
        log.warning(
            "Slack refuses every message to channel %s (%s): %d message(s) failed", channel, error, len(keys)
        )
        await self._report([DeliveryFailure(key=key, channel=channel, error=error) for key in keys])

    async def _report(self, failures: list[DeliveryFailure]) -> None:
        self.stats.failed += len(failures)
        for failure in failures:
            log.warning("outbox message %s to %s failed: %s", failure.key, failure.channel, failure.error)
            if self._on_failure is not None:
                try:
                    await self._on_failure(failure)
                except Exception:
                    log.exception("outbox failure hook raised for %s", failure.key)


# The statements of every post are built once and run with bound parameters: building them per
# row (ORM attribute comparisons, coercions) cost more CPU than running them.


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


# Everything the scheduler needs of a waiting row; the payload comes with the claim.
_LIGHT_COLUMNS = tuple(column for column in OutboxMessage.__table__.columns if column.key != "payload")
MAX_WAITING = 5000  # waiting rows read per pass (the oldest)


@functools.cache
def _waiting_statement() -> Select[Any]:
    """Every waiting post and edit, oldest first."""
    table = _table()
    return (
        select(*_LIGHT_COLUMNS)
        .where(table.c.status == STATUS_PENDING)
        .order_by(table.c.id)
        .limit(MAX_WAITING)
    )


@dataclass(frozen=True)
class _Parent:
    """The outbox row a reply or an edit refers to: where it stands, its Slack ts once sent."""

    status: str
    ts: str | None


TOP_LEVEL = "channel"


def _thread_of(row: OutboxMessage) -> str:
    """The queue a post waits in: its thread (by root ts or key), or the channel's top level.

    A top-level notice (a post with a priority, such as a channel board) follows no other
    message, so it waits in a queue of its own instead of behind the channel's cards.
    """
    if row.thread_ts is not None:
        return f"ts:{row.thread_ts}"
    if row.parent_key is not None:
        return f"key:{row.parent_key}"
    if row.priority > PRIORITY_NORMAL:
        return f"{TOP_LEVEL}:{row.key}"
    return TOP_LEVEL


def _parent_ts(row: OutboxMessage, parents: dict[str, _Parent]) -> tuple[str | None, str | None]:
    """(the thread ts to post under, or a reason to fail the row) for a post about to go."""
    if row.parent_key is None:
        return row.thread_ts, None
    parent = parents.get(row.parent_key)
    if parent is None:
        return None, "parent_missing"
    if parent.status in (STATUS_FAILED, STATUS_SUPERSEDED) or parent.ts is None:
        return None, "parent_failed"
    return parent.ts, None


@functools.cache
def _claim_many_statement(mark_in_doubt: bool) -> ReturningUpdate[tuple[int, dict[str, Any]]]:
    """Claim rows ``o_ids`` for ``o_owner`` until ``o_until`` where free at ``o_now``; (id, payload)."""
    table = _table()
    values: dict[str, Any] = {
        "claimed_by": bindparam("o_owner", type_=table.c.claimed_by.type),
        "claimed_until": bindparam("o_until", type_=table.c.claimed_until.type),
    }
    if mark_in_doubt:
        values["in_doubt"] = True
    return (
        update(table)
        .where(
            table.c.id.in_(bindparam("o_ids", expanding=True)),
            table.c.status == STATUS_PENDING,
            or_(
                table.c.claimed_by.is_(None),
                table.c.claimed_by == bindparam("o_owner"),
                table.c.claimed_until < bindparam("o_now", type_=table.c.claimed_until.type),
            ),
        )
        .values(values)
        .returning(table.c.id, table.c.payload)
    )


@functools.cache
def _mark_sent_statement() -> Update:
    """Row ``o_id`` went out as Slack message ``o_ts`` at ``o_now``."""
    table = _table()
    return (
        update(table)
        .where(table.c.id == bindparam("o_id"))
        .values(
            status=STATUS_SENT,
            ts=bindparam("o_ts", type_=table.c.ts.type),
            sent_at=bindparam("o_now", type_=table.c.sent_at.type),
            in_doubt=False,
            error=None,
            attempts=table.c.attempts + 1,
            claimed_by=None,
            claimed_until=None,
        )
    )
