"""Slack's pace, as the sender keeps it (pure: the clock is injected).

Posts: one token bucket per channel (about one a second, a small burst saved up). Edits: one
bucket for the whole workspace (``chat.update`` is Tier 3), and a minimum interval per message.
A 429 blocks its channel's posts (or every edit) for Retry-After and empties the bucket: Slack's
view of our rate beats our own. Whatever waits notes when to look again (``note_wake``).
"""

from __future__ import annotations

from bot.clock import Clock
from bot.outbox.ratelimit import TokenBucket


class Pacing:
    """Token buckets, 429 blocks and the edit interval, on the injected clock."""

    def __init__(
        self,
        *,
        clock: Clock,
        rate_per_second: float,
        burst: int,
        update_interval: float,
        update_rate: float,
        update_burst: int,
    ) -> None:
        self._clock = clock
        self._rate = rate_per_second
        self._burst = burst
        self._update_interval = update_interval
        self.update_bucket = TokenBucket(rate=update_rate, burst=update_burst, clock=clock)
        self._buckets: dict[str, TokenBucket] = {}
        self._blocked_until: dict[str, float] = {}  # channel -> monotonic (after a 429)
        self._updates_blocked_until = 0.0
        self._last_update: dict[str, float] = {}  # target -> monotonic of the last edit sent
        self.wake_at: float | None = None  # monotonic: when something becomes sendable

    def bucket(self, channel: str) -> TokenBucket:
        """The post bucket of ``channel``."""
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = TokenBucket(
                rate=self._rate, burst=self._burst, clock=self._clock
            )
        return bucket

    def note_wake(self, delay: float) -> None:
        """Something becomes sendable in ``delay`` seconds: the sender wakes by then."""
        at = self._clock.monotonic() + max(0.0, delay)
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at

    def wake_in(self, idle: float) -> float:
        """Seconds until the earliest noted wake-up (``idle`` when none was noted)."""
        if self.wake_at is None:
            return idle
        return max(0.0, self.wake_at - self._clock.monotonic())

    def channel_blocked_for(self, channel: str) -> float:
        """Seconds ``channel``'s posts still wait after a 429 (zero or less: none)."""
        return self._blocked_until.get(channel, 0.0) - self._clock.monotonic()

    def edits_blocked(self) -> bool:
        """Whether edits wait after a 429."""
        return self._updates_blocked_until > self._clock.monotonic()

    def edit_wait(self) -> float:
        """Seconds until the workspace may send an edit (the budget, or a 429)."""
        return max(self.update_bucket.wait_time(), self._updates_blocked_until - self._clock.monotonic())

    def edit_interval_left(self, target: str) -> float:
        """Seconds until message ``target`` may be edited again (zero or less: now)."""
        return self._update_interval - (
            self._clock.monotonic() - self._last_update.get(target, float("-inf"))
        )

    def edited(self, target: str) -> None:
        """An edit of ``target`` went out now."""
        self._last_update[target] = self._clock.monotonic()

    def rate_limited(self, channel: str | None, wait: float) -> None:
        """Slack said 429 with Retry-After ``wait``: to a post in ``channel``, or (None) to an edit."""
        if channel is not None:
            self._blocked_until[channel] = self._clock.monotonic() + wait
            self.bucket(channel).drain()
        else:
            self._updates_blocked_until = self._clock.monotonic() + wait
        self.note_wake(wait)
