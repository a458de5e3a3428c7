"""Work that happens after Slack has been answered.

Slack gives a listener 3 seconds; the bot acks at once and hands the slow part (VRO calls,
database writes, posting cards) to :class:`BackgroundWork`. Tests and shutdown call
:meth:`BackgroundWork.drain` to wait for everything started so far, so no test has to sleep.

A request's work can be *held* (:meth:`BackgroundWork.hold`) until a check made alongside the
ack says it may go ahead: the check that a delivery is the first of its kind writes to the
database, and waiting for that before the ack would cost every request its latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

ErrorHook = Callable[[BaseException, str], Awaitable[None]]

log = logging.getLogger(__name__)

# The hold on the current request's work (set by a middleware; the listener runs in its context).
_HOLD: ContextVar[asyncio.Task[bool] | None] = ContextVar("vro_bot_work_hold", default=None)


class BackgroundWork:
    """A set of tasks started after an ack, with a hook for failures."""

    def __init__(self, *, on_error: ErrorHook | None = None) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def hold(self, go_ahead: Coroutine[Any, Any, bool] | None, *, name: str = "hold") -> None:
        """Hold the work this request spawns from now on until ``go_ahead`` answers; run it only if True.

        ``go_ahead`` starts at once, alongside the ack. ``None`` lifts any hold (a new request).
        """
        if go_ahead is None:
            _HOLD.set(None)
            return
        task = asyncio.get_running_loop().create_task(go_ahead, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_retrieve)
        _HOLD.set(task)

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``coro`` in the background; failures go to the error hook, never vanish."""
        held = _HOLD.get()
        task = asyncio.get_running_loop().create_task(self._guard(coro, name, held), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(
        self, coro: Coroutine[Any, Any, None], name: str, held: asyncio.Task[bool] | None
    ) -> None:
        try:
            if held is not None:
                try:
                    go_ahead = await asyncio.shield(held)
                except BaseException:
                    coro.close()
                    raise
                if not go_ahead:
                    coro.close()  # this delivery was carried out already
                    log.info("%s not run: that request was carried out already", name)
                    return
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


def _retrieve(task: asyncio.Task[bool]) -> None:
    """Mark a hold's failure as seen (the held work reports it through the error hook)."""
    if not task.cancelled():
        task.exception()
