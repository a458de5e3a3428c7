"""Which watches this process polls: leases on watch rows, renewed, given back, taken over.

A watch is leased (``UPDATE ... WHERE lease expired OR owner = me``) for ``lease_seconds``; the
watcher's loop renews its leases every few seconds, so on PostgreSQL two replicas never poll the
same watch, and a watch whose owner died is taken over (and polled at once) within seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import reading
from bot.watcher.tables import STATUS_ACTIVE, Watch

# Every column but the snapshot's head (read with the items on a cache miss).
STATE_COLUMNS = tuple(column for column in Watch.__table__.columns if column.key != "snapshot")


class WatchLeases:
    """The leases one process (``owner``) holds on watch rows."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        owner: str,
        lease_seconds: float,
    ) -> None:
        self._sessions = session_factory
        self._clock = clock
        self.owner = owner
        self._lease = timedelta(seconds=lease_seconds)

    def _mine_or_free(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            Watch.lease_owner.is_(None),
            Watch.lease_owner == self.owner,
            Watch.lease_expires_at < now,
        )

    async def claim_due(
        self, now: datetime, *, ahead: float = 0.0, limit: int | None = None, busy: Sequence[int] = ()
    ) -> list[Watch]:
        """Lease the watches due (within ``ahead``) this process may poll, the most overdue first.

        At most ``limit`` of them, none of ``busy`` (being polled here already). One statement
        for the whole cycle: the rows (without their snapshot) come back from the UPDATE itself.
        """
        due = and_(
            Watch.status == STATUS_ACTIVE,
            or_(
                Watch.next_poll_at <= now + timedelta(seconds=ahead),
                # A dead owner's watch is polled at once, whenever its next poll was due.
                and_(Watch.lease_owner.is_not(None), Watch.lease_expires_at < now),
            ),
            self._mine_or_free(now),
        )
        if busy:
            due = and_(due, Watch.id.not_in(busy))
        if limit is not None:
            due = and_(
                due, Watch.id.in_(select(Watch.id).where(due).order_by(Watch.next_poll_at).limit(limit))
            )
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Watch)
                .where(due)
                .values(lease_owner=self.owner, lease_expires_at=now + self._lease)
                .returning(*STATE_COLUMNS)
            )
            rows = [Watch(**row._mapping) for row in result]
        return sorted(rows, key=lambda row: row.id)

    async def renew(self) -> int:
        """Renew the leases this process holds; how many it holds."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Watch)
                .where(Watch.lease_owner == self.owner, Watch.status == STATUS_ACTIVE)
                .values(lease_expires_at=now + self._lease)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def release(self) -> None:
        """Give up this process's leases (shutdown), so another replica takes over at once."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Watch)
                .where(Watch.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires_at=None, next_poll_at=self._clock.now())
            )

    async def next_due_in(self, *, busy: Sequence[int] = (), at_most: float) -> float:
        """Seconds until the next watch this process may poll is due (``at_most`` if none)."""
        now = self._clock.now()
        query = select(Watch.next_poll_at).where(Watch.status == STATUS_ACTIVE, self._mine_or_free(now))
        if busy:
            query = query.where(Watch.id.not_in(busy))
        async with reading(self._sessions) as session:
            due = await session.scalar(query.order_by(Watch.next_poll_at).limit(1))
        if due is None:
            return at_most
        return min(at_most, max(0.0, (due - now).total_seconds()))
