"""Bounding a wait by the injected clock, so tests can time out a hung check without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from bot.clock import Clock

T = TypeVar("T")


async def within(clock: Clock, seconds: float, work: Awaitable[T]) -> T:
    """Await ``work`` unless ``clock.sleep(seconds)`` finishes first; then cancel it and raise
    :class:`TimeoutError`. With a :class:`~bot.clock.FakeClock` the deadline passes as soon as
    ``work`` suspends on something that is not ready, which is what a test of a hung
    dependency wants."""
    task: asyncio.Future[T] = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    racers: set[asyncio.Future[Any]] = {task, timer}
    try:
        await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timed_out = not task.done()
        task.cancel()
        timer.cancel()
        # Collect both so neither leaves an un-retrieved exception or a pending task behind.
        await asyncio.gather(task, timer, return_exceptions=True)
    if timed_out:
        raise TimeoutError(f"no answer within {seconds:g} s")
    return task.result()
