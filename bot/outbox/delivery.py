"""The Slack calls of the outbox and what their errors mean for a row.

A post still ``in_doubt`` (a previous attempt may have reached Slack) is first looked up by its
key in the message metadata, and only posted when Slack does not have it. On an error:

* 429 waits for Retry-After (its channel's posts, or every edit) and does not count as an attempt;
* 5xx and network errors back off with jitter, a bounded number of times (a post stays in doubt);
* permanent errors fail the row (or every pending row of the channel, when Slack refuses the
  channel itself) and are reported to ``on_failure``.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.outbox.ledger import OutboxLedger, Waiting
from bot.outbox.pacing import Pacing
from bot.outbox.poster import PermanentError, RateLimited, SlackDeliveryError, SlackPoster, TransientError
from bot.outbox.tables import KIND_POST

log = logging.getLogger("bot.outbox.sender")

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


@dataclass(frozen=True)
class Backoff:
    """Retries after a 5xx or a network error: ``base`` doubling up to ``most``, jittered."""

    max_attempts: int
    base: float
    most: float
    rng: random.Random


class SlackDelivery:
    """Posts and edits claimed rows through the poster; settles failures in the ledger."""

    def __init__(
        self,
        *,
        poster: SlackPoster,
        ledger: OutboxLedger,
        pacing: Pacing,
        clock: Clock,
        backoff: Backoff,
        stats: SenderStats,
        on_failure: FailureHook | None,
    ) -> None:
        self._poster = poster
        self._ledger = ledger
        self._pacing = pacing
        self._clock = clock
        self._backoff = backoff
        self.stats = stats
        self._on_failure = on_failure

    async def deliver_post(
        self, row: Waiting, thread_ts: str | None, payload: dict[str, Any]
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
                # The lookup failed, not a post: the earlier attempt may still be in Slack.
                await self.retry_later(row, exc, in_doubt=True)
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
            await self.retry_later(row, exc)
            return calls, None
        self.stats.record_post(row.channel, self._clock.monotonic())
        return calls, ts

    async def send_update(
        self, target: str, row: Waiting, ts: str, payload: dict[str, Any], sent: list[tuple[int, str]]
    ) -> int:
        """Edit message ``ts`` (``target``) as one claimed row says; Slack calls made."""
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
            await self.retry_later(row, exc)
            return 1
        self._pacing.edited(target)
        self.stats.updates += 1
        sent.append((row.id, ts))
        return 1

    async def retry_later(self, row: Waiting, exc: SlackDeliveryError, *, in_doubt: bool = False) -> None:
        """What Slack's error means for ``row``: wait, back off, or fail.

        ``in_doubt``: the row stays in doubt whatever ``exc`` says about this call (it came from
        the lookup of an earlier attempt, which may have reached Slack).
        """
        now = self._clock.now()
        if isinstance(exc, RateLimited):
            self.stats.rate_limited += 1
            wait = max(0.0, exc.retry_after)
            self._pacing.rate_limited(row.channel if row.kind == KIND_POST else None, wait)
            # Slack refused this call (not posted by it), and a 429 does not count as an attempt.
            await self._ledger.reschedule(
                row.id, now + timedelta(seconds=wait), error=exc.error, in_doubt=in_doubt
            )
            return
        if isinstance(exc, PermanentError):
            if exc.channel_wide:
                await self.fail_channel(row.channel, exc.error)
            else:
                await self.fail(row, exc.error)
            return
        self.stats.transient_errors += 1
        attempts = row.attempts + 1
        backoff = self._backoff
        if attempts >= backoff.max_attempts:
            await self.fail(row, f"gave up after {attempts} attempts: {exc.error}")
            return
        delay = min(backoff.most, backoff.base * 2 ** (attempts - 1))
        delay *= 0.5 + backoff.rng.random() / 2  # jitter: two senders never retry in lockstep
        self._pacing.note_wake(delay)
        await self._ledger.reschedule(
            row.id,
            now + timedelta(seconds=delay),
            error=exc.error,
            in_doubt=in_doubt or (row.kind == KIND_POST and isinstance(exc, TransientError)),
            count_attempt=True,
        )

    async def fail(self, row: Waiting, error: str) -> None:
        await self._ledger.fail(row.id, error)
        await self._report([DeliveryFailure(key=row.key, channel=row.channel, error=error)])

    async def fail_channel(self, channel: str, error: str) -> None:
        """Every pending message of ``channel`` fails with ``error`` (the bot cannot post there)."""
        keys = await self._ledger.fail_channel(channel, error)
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
