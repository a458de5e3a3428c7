"""Work that happens after Slack has been answered.

Slack gives a listener 3 seconds; the bot acks at once and hands the slow part (VRO calls,
database writes, posting cards) to :class:`BackgroundWork`. Tests and shutdown call
:meth:`BackgroundWork.drain` to wait for everything started so far, so no test has to sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

ErrorHook = Callable[[BaseException, str], Awaitable[None]]

log = logging.getLogger(__name__)


class BackgroundWork:
    """A set of tasks started after an ack, with a hook for failures."""

    def __init__(self, *, on_error: ErrorHook | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_error = on_error

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``coro`` in the background; failures go to the error hook, never vanish."""
        task = asyncio.get_running_loop().create_task(self._guard(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("background work %s failed", name)
            if self._on_error is not None:
                try:
                    await self._on_error(exc, name)
                except Exception:
                    log.exception("error hook failed for %s", name)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every task, including tasks started by tasks, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
