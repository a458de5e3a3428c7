"""Time as a parameter.

Every module that needs the current time or wants to wait receives a :class:`Clock`.
Production code uses :class:`SystemClock`; tests use :class:`FakeClock`, which never sleeps
for real: ``sleep`` advances the fake time (and yields to the event loop) so retries and
backoffs run instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """The only way the product asks what time it is, or waits."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for durations and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a fake clock advances instead)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def first_of(*aws: Awaitable[object]) -> None:
    """Wait until the first of ``aws`` finishes (a clock's sleep, a wake-up or stop event);
    cancel the others and wait for them to go, so no task outlives the call."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


DEFAULT_FAKE_START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to (or when someone sleeps on it).

    ``sleeps`` records every requested sleep so tests can check backoff schedules.
    """

    def __init__(self, start: datetime = DEFAULT_FAKE_START) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (must not be in the past)."""
        delta = (when.astimezone(UTC) - self._now).total_seconds()
        self.advance(delta)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class OffsetClock:
    """Another clock shifted by a fixed offset: a server whose clock is wrong (the simulator's option).

    ``monotonic`` and ``sleep`` are the inner clock's: only the wall-clock reading is off.
    """

    def __init__(self, inner: Clock, offset: timedelta) -> None:
        self._inner = inner
        self.offset = offset

    def now(self) -> datetime:
        return self._inner.now() + self.offset

    def monotonic(self) -> float:
        return self._inner.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
