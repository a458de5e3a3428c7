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
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, first_of
from bot.outbox.choosing import Chooser
from bot.outbox.delivery import (
    Backoff,
    DeliveryFailure,
    FailureHook,
    SenderStats,
    SlackDelivery,
)
from bot.outbox.ledger import OutboxLedger, Waiting
from bot.outbox.pacing import Pacing
from bot.outbox.poster import SlackPoster
from bot.outbox.tables import KIND_POST, KIND_UPDATE

__all__ = ["DeliveryFailure", "FailureHook", "OutboxSender", "SenderStats"]

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
MAX_ROUNDS = 3  # rounds of a pass: a reply or an edit may follow the message it needs at once


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
        self._clock = clock
        self.owner = owner or f"sender-{uuid.uuid4().hex[:12]}"
        self._send = timedelta(seconds=send_seconds)
        self._idle = idle_seconds
        self._min_pass = min_pass_seconds
        self._wake = asyncio.Event()
        self.stats = SenderStats()
        self._ledger = OutboxLedger(
            session_factory=session_factory, owner=self.owner, claim=timedelta(seconds=claim_seconds)
        )
        self._pacing = Pacing(
            clock=clock,
            rate_per_second=rate_per_second,
            burst=burst,
            update_interval=update_interval,
            update_rate=update_rate,
            update_burst=update_burst,
        )
        self._chooser = Chooser(pacing=self._pacing, clock=clock, owner=self.owner, idle_seconds=idle_seconds)
        backoff = Backoff(
            max_attempts=max_attempts,
            base=backoff_base,
            most=backoff_max,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
        )
        self._delivery = SlackDelivery(
            poster=poster,
            ledger=self._ledger,
            pacing=self._pacing,
            clock=clock,
            backoff=backoff,
            stats=self.stats,
            on_failure=on_failure,
        )

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
        self._pacing.wake_at = None
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
        ledger, delivery = self._ledger, self._delivery
        waiting, refs = await ledger.read_waiting()
        if not waiting:
            return 0, False
        posts: dict[str, list[Waiting]] = {}
        edits: list[Waiting] = []
        for row in waiting:
            if row.kind == KIND_POST:
                posts.setdefault(row.channel, []).append(row)
            elif row.kind == KIND_UPDATE:
                edits.append(row)
        failed: list[tuple[Waiting, str]] = []
        chosen_posts = [
            chosen
            for channel, rows in posts.items()
            for chosen in self._chooser.choose_posts(channel, rows, refs, now, failed)
        ]
        chosen_edits: list[tuple[Waiting, str, str]] = []
        if edits:
            chosen_edits, stale = self._chooser.choose_edits(edits, refs, now, failed)
            if stale:
                self.stats.superseded += await ledger.supersede(stale)
        for row, error in failed:
            await delivery.fail(row, error)
        if not chosen_posts and not chosen_edits:
            return 0, False
        payloads = await ledger.claim_rows(
            [row.id for row, _ in chosen_posts], [row.id for row, _, _ in chosen_edits], now
        )
        by_channel: dict[str, list[tuple[Waiting, str | None, dict[str, Any]]]] = {}
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
            if self._pacing.edits_blocked():
                await ledger.release(row.id)  # Slack said 429 on an edit meanwhile
                continue
            calls += await delivery.send_update(target, row, ts, payloads[row.id], sent)
        await ledger.mark_sent(sent, self._clock.now())
        sent_keys = {row.key for row, _ in chosen_posts if row.key in ledger.sent}
        unblocked = any(row.parent_key in sent_keys or row.target_key in sent_keys for row in waiting)
        return calls, unblocked

    async def pending_count(self) -> int:
        return await self._ledger.pending_count()

    def next_wake_in(self) -> float:
        """Seconds until the last pass said something becomes sendable (idle interval if unknown)."""
        return self._pacing.wake_in(self._idle)

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

    # -- one channel's posts ---------------------------------------------------------------------

    async def _deliver_posts(
        self,
        batch: list[tuple[Waiting, str | None, dict[str, Any]]],
        sent: list[tuple[int, str]],
        *,
        claimed_at: datetime,
    ) -> int:
        """One channel's posts of this pass, in order; stops at the first that did not go."""
        calls = 0
        for index, (row, thread_ts, payload) in enumerate(batch):
            if not await self._keep_claim(row.id, claimed_at):
                break  # another sender took this channel's rows over: they are its to send now
            made, ts = await self._delivery.deliver_post(row, thread_ts, payload)
            calls += made
            if ts is None:
                for rest, _, _ in batch[index + 1 :]:
                    await self._ledger.release(rest.id)
                break
            sent.append((row.id, ts))
            self._ledger.remember_sent(row.key, ts)
        return calls

    async def _keep_claim(self, row_id: int, claimed_at: datetime) -> bool:
        """Whether this sender may post row ``row_id`` now: its claim outlasts one Slack call.

        A pass claims its rows once, then posts them one after the other; a slow Slack can
        stretch that past the claim, after which another sender (a replica) may take a row and
        post it too. So before each post the claim must still have ``send_seconds`` left, or it
        is renewed, only if this sender still holds the row.
        """
        now = self._clock.now()
        if claimed_at + self._ledger.claim - now >= self._send:
            return True
        return await self._ledger.renew_claim(row_id, now)
