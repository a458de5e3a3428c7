"""Fault injection for the sandbox: queued one-off faults and a sustained per-channel rate limit.

A :class:`Fault` is a canned answer (status, headers, body) that replaces the next call(s) of a
method. :class:`ChannelRateLimit` models Slack's "about one message per second per channel":
a token bucket per channel on ``clock.monotonic()`` that answers 429 with ``Retry-After`` when
a sender goes faster, so a test can measure the outbox's pacing.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.clock import Clock

ANY_METHOD = "*"


@dataclass(frozen=True)
class Fault:
    """One canned answer for a Web API call, used instead of the real one."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"ok": False, "error": "fatal_error"})
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def rate_limited(cls, retry_after: int = 0) -> Fault:
        """HTTP 429 with ``Retry-After`` (whole seconds) and ``{"ok": false, "error": "ratelimited"}``."""
        return cls(
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": str(retry_after)},
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """An HTTP 5xx with Slack's ``fatal_error`` / ``service_unavailable`` body."""
        error = "service_unavailable" if status == 503 else "fatal_error"
        return cls(status=status, body={"ok": False, "error": error})

    @classmethod
    def error(cls, error: str, **extra: Any) -> Fault:
        """HTTP 200 with ``{"ok": false, "error": error}``, e.g. ``not_in_channel``."""
        return cls(status=200, body={"ok": False, "error": error, **extra})


class FaultQueue:
    """Per-method queues of faults; ``"*"`` matches any method. Thread-safe."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def inject(self, method: str, fault: Fault, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``fault``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queues.setdefault(method, deque()).extend([fault] * times)

    def inject_many(self, method: str, faults: Iterable[Fault]) -> None:
        """Answer the next calls of ``method`` with ``faults``, in order."""
        with self._lock:
            self._queues.setdefault(method, deque()).extend(faults)

    def take(self, method: str) -> Fault | None:
        """The fault for this call of ``method``, if one is queued (specific method first)."""
        with self._lock:
            for key in (method, ANY_METHOD):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            return None

    def pending(self, method: str | None = None) -> int:
        with self._lock:
            if method is not None:
                return len(self._queues.get(method, ()))
            return sum(len(q) for q in self._queues.values())

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


@dataclass
class _Bucket:
    tokens: float
    updated: float


class ChannelRateLimit:
    """A token bucket per channel: ``per_second`` sustained, ``burst`` at once.

    ``check`` returns None when the call may go through (and spends a token), otherwise the
    whole seconds a client should wait (the ``Retry-After`` value, at least 1).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        per_second: float = 1.0,
        burst: int = 1,
        methods: Iterable[str] = ("chat.postMessage",),
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be positive and burst at least 1")
        self.clock = clock
        self.per_second = per_second
        self.burst = burst
        self.methods = frozenset(methods)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def applies_to(self, method: str) -> bool:
        return method in self.methods

    def check(self, channel: str) -> int | None:
        with self._lock:
            now = self.clock.monotonic()
            bucket = self._buckets.setdefault(channel, _Bucket(tokens=float(self.burst), updated=now))
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            self.rejected += 1
            return max(1, math.ceil((1.0 - bucket.tokens) / self.per_second))
