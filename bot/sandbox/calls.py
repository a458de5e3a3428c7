"""What the sandbox's Web API answers (:class:`ApiReply`) and its record of every call.

Every call is recorded (:class:`CallRecord`), including refused ones, so tests can assert on
what the bot sent and how often; :meth:`CallLog.wait_for` lets a test wait, without sleeping,
until listeners that run after ``ack()`` have made their calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.sandbox.models import JsonDict


@dataclass(frozen=True)
class ApiReply:
    """What the sandbox answers: an HTTP status, extra headers and a JSON body."""

    status: int
    body: JsonDict
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.body.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.body.get("error")
        return None if error is None else str(error)


@dataclass(frozen=True)
class CallRecord:
    """One call the sandbox received and what it answered."""

    method: str
    params: JsonDict
    at: datetime
    monotonic: float
    status: int
    ok: bool
    error: str | None
    retry_after: int | None = None


class CallLog:
    """Every recorded call, in arrival order; thread-safe; async waiters are woken on each call."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def append(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[CallRecord]:
        """Recorded calls, optionally of one method and only (un)successful ones."""
        with self._lock:
            return [
                r
                for r in self._records
                if (method is None or r.method == method) and (ok is None or r.ok == ok)
            ]

    def count(self, method: str | None = None, *, ok: bool | None = None) -> int:
        return len(self.calls(method, ok=ok))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    async def wait_for(
        self,
        method: str,
        *,
        count: int = 1,
        ok: bool | None = True,
        where: Callable[[CallRecord], bool] | None = None,
        within_seconds: float = 5.0,
    ) -> list[CallRecord]:
        """Wait until ``count`` matching calls were recorded and return them.

        Wakes on each recorded call (no polling); ``within_seconds`` is only a safety net that turns a
        missing call into a clear :class:`TimeoutError` instead of a hung test.
        """

        def matching() -> list[CallRecord]:
            return [r for r in self.calls(method, ok=ok) if where is None or where(r)]

        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._waiters.append(entry)
        try:
            async with asyncio.timeout(within_seconds):
                while len(found := matching()) < count:
                    await event.wait()
                    event.clear()
                return found
        except TimeoutError:
            seen = [r.method for r in self.calls()]
            raise TimeoutError(
                f"expected {count} call(s) of {method}, got {len(matching())}; calls seen: {seen}"
            ) from None
        finally:
            with self._lock:
                self._waiters.remove(entry)
