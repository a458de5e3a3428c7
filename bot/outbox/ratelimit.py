"""A token bucket on the injected clock: ``rate`` tokens a second, at most ``burst`` saved up."""

from __future__ import annotations

from bot.clock import Clock


class TokenBucket:
    """Slack's "about one message a second per channel, short bursts allowed", as arithmetic."""

    def __init__(self, *, rate: float, burst: float, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def try_take(self) -> bool:
        """Take one token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate

    def drain(self) -> None:
        """Empty the bucket (after a 429: Slack's view of our rate beats our own)."""
        self._refill()
        self._tokens = 0.0
