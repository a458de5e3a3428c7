"""Injected faults and the request log.

Paths are matched as case-insensitive globs (``/api/v7.21/Plans*``, ``*/RuntimeDetails/*``,
``/api/token``); an optional method narrows a rule. Latency rules add a delay through the
simulator's clock (a FakeClock just moves on); error rules answer with a status either for the
next N matching requests or at a given rate.
"""

from __future__ import annotations

import fnmatch
import random
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass
class LatencyRule:
    path: str
    seconds: float
    method: str | None = None


@dataclass
class ErrorRule:
    path: str
    status: int = 500
    method: str | None = None
    rate: float | None = None  # probability per matching request
    remaining: int | None = None  # the next N matching requests
    message: str = "An error has occurred."


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it (no headers, so no tokens)."""

    time: datetime
    method: str
    path: str
    query: str
    status: int
    user: str | None
    fault: bool
    latency: float

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return data


def _matches(pattern: str, method: str | None, req_method: str, path: str) -> bool:
    if method is not None and method.upper() != req_method.upper():
        return False
    return fnmatch.fnmatchcase(path.lower(), pattern.lower())


class Faults:
    """Latency and error rules, plus a bounded request log."""

    def __init__(self, *, seed: int | None = None, log_size: int = 10_000) -> None:
        self.latency: list[LatencyRule] = []
        self.errors: list[ErrorRule] = []
        self.log: deque[RequestRecord] = deque(maxlen=log_size)
        self._random = random.Random(seed)

    def add_latency(self, path: str, seconds: float, *, method: str | None = None) -> LatencyRule:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        rule = LatencyRule(path, seconds, method)
        self.latency.append(rule)
        return rule

    def fail_next(
        self,
        path: str,
        count: int = 1,
        *,
        status: int = 500,
        method: str | None = None,
        message: str | None = None,
    ) -> ErrorRule:
        """The next ``count`` matching requests answer ``status`` with ``{"Message": message}``."""
        if count < 1:
            raise ValueError("count must be at least 1")
        _check_status(status)
        rule = ErrorRule(path, status, method, remaining=count)
        if message is not None:
            rule.message = message
        self.errors.append(rule)
        return rule

    def error_rate(
        self, path: str, rate: float, *, status: int = 500, method: str | None = None
    ) -> ErrorRule:
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        _check_status(status)
        rule = ErrorRule(path, status, method, rate=rate)
        self.errors.append(rule)
        return rule

    def clear(self) -> None:
        self.latency.clear()
        self.errors.clear()

    def delay_for(self, method: str, path: str) -> float:
        """Seconds to wait before answering (the largest matching rule)."""
        return max(
            (r.seconds for r in self.latency if _matches(r.path, r.method, method, path)),
            default=0.0,
        )

    def error_for(self, method: str, path: str) -> ErrorRule | None:
        """The injected error for this request, if any (consumes a next-N rule)."""
        for rule in self.errors:
            if rule.remaining is None or not _matches(rule.path, rule.method, method, path):
                continue
            rule.remaining -= 1
            if rule.remaining <= 0:
                self.errors.remove(rule)
            return rule
        for rule in self.errors:
            matching = rule.rate is not None and _matches(rule.path, rule.method, method, path)
            if matching and self._random.random() < (rule.rate or 0.0):
                return rule
        return None


def _check_status(status: int) -> None:
    if not 400 <= status <= 599:
        raise ValueError("an injected error needs a 4xx or 5xx status")
