"""Who is in a Slack user group, as the policy asks it: trusted for a while, never past a bound.

Roles granted through user groups are only as good as the last answer Slack gave. An answer is
used as is for ``ttl_seconds`` (``VRO_BOT_GROUP_TTL_SECONDS``, 60 s by default). After that the
group is asked again; when that lookup fails (rate limit, outage, missing scope), the older
answer is still used while it is younger than ``grace_seconds`` (10 minutes by default), so a
short Slack hiccup does not stop an incident. Past the grace, or with no answer at all, the
lookup fails with :class:`GroupLookupError` and the caller refuses: a failed lookup never
grants anything.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from bot.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_GROUP_TTL_SECONDS = 60.0
"""``VRO_BOT_GROUP_TTL_SECONDS`` (DESIGN.md section 4)."""
DEFAULT_GROUP_GRACE_SECONDS = 600.0
"""``VRO_BOT_GROUP_GRACE_SECONDS``: how old an answer may be and still stand in for a failed lookup."""


class GroupLookupError(Exception):
    """The members of a user group could not be found out; ``problem`` says why (for people)."""

    def __init__(self, handle: str, problem: str) -> None:
        self.handle = handle.lstrip("@")
        self.problem = problem
        super().__init__(f"@{self.handle}: {problem}")


class GroupResolver(Protocol):
    """Answers who is in a Slack user group."""

    async def members(self, handle: str) -> frozenset[str]:
        """User ids of the group with this handle (empty when there is no such group).

        Raises :class:`GroupLookupError` when the answer cannot be had.
        """
        ...


@dataclass(frozen=True, slots=True)
class _Answer:
    fetched_at: float  # clock.monotonic()
    members: frozenset[str]


class CachedGroupResolver:
    """Keeps each group's members for ``ttl_seconds``; on a failed refresh, for ``grace_seconds``.

    Both are measured from when Slack last answered, on the injected clock. One refresh per
    group is in flight at a time: concurrent callers wait for it rather than ask Slack again.
    """

    def __init__(
        self,
        *,
        inner: GroupResolver,
        clock: Clock,
        ttl_seconds: float = DEFAULT_GROUP_TTL_SECONDS,
        grace_seconds: float = DEFAULT_GROUP_GRACE_SECONDS,
    ) -> None:
        if ttl_seconds < 0 or grace_seconds < ttl_seconds:
            raise ValueError("the grace must be at least the TTL, and neither negative")
        self._inner = inner
        self._clock = clock
        self._ttl = ttl_seconds
        self._grace = grace_seconds
        self._cache: dict[str, _Answer] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    @property
    def grace_seconds(self) -> float:
        return self._grace

    async def members(self, handle: str) -> frozenset[str]:
        cached = self._fresh(handle)
        if cached is not None:
            return cached.members
        async with self._locks.setdefault(handle, asyncio.Lock()):
            cached = self._fresh(handle)  # another caller refreshed it meanwhile
            if cached is not None:
                return cached.members
            return await self._refresh(handle)

    def _fresh(self, handle: str) -> _Answer | None:
        cached = self._cache.get(handle)
        if cached is not None and self._clock.monotonic() - cached.fetched_at < self._ttl:
            return cached
        return None

    async def _refresh(self, handle: str) -> frozenset[str]:
        now = self._clock.monotonic()
        try:
            members = await self._inner.members(handle)
        except GroupLookupError as exc:
            cached = self._cache.get(handle)
            if cached is None:
                raise
            age = now - cached.fetched_at
            if age < self._grace:
                log.warning(
                    "user group @%s could not be refreshed (%s); using Slack's answer from %.0f s ago",
                    exc.handle,
                    exc.problem,
                    age,
                )
                return cached.members
            log.warning(
                "user group @%s could not be refreshed (%s) and Slack's last answer is %.0f s old: "
                "refusing what depends on it",
                exc.handle,
                exc.problem,
                age,
            )
            raise
        self._cache[handle] = _Answer(fetched_at=now, members=members)
        return members

    def forget(self, handle: str | None = None) -> None:
        """Drop one group's cached members (or all of them)."""
        if handle is None:
            self._cache.clear()
        else:
            self._cache.pop(handle, None)
