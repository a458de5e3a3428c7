"""The sender's database bookkeeping: read what waits, claim it, record how it went.

Every write is its own short transaction, and a claimed row names its sender (``claimed_by``)
until ``claimed_until``: a second replica leaves it alone meanwhile, and takes it over once the
claim lapses. The statements run for every post are built once and run with bound parameters:
building them per row (ORM attribute comparisons, coercions) cost more CPU than running them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, Update, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningUpdate

from bot.db import reading
from bot.outbox.tables import STATUS_FAILED, STATUS_PENDING, STATUS_SENT, STATUS_SUPERSEDED, OutboxMessage

MAX_REMEMBERED = 20_000  # keys of sent messages remembered with their ts (replies and edits need them)
MAX_WAITING = 5000  # waiting rows read per pass (the oldest)
REF_CHUNK = 500  # referred-to keys looked up per statement

# Whatever ends a row's claim: the row is free for the next pass (of any sender).
_UNCLAIMED: dict[str, Any] = {"claimed_by": None, "claimed_until": None}


@dataclass(frozen=True, slots=True)
class Waiting:
    """A waiting outbox row as the sender reads it: what choosing and sending need, no payload.

    A plain record rather than an ORM object: the sender reads every waiting row on each pass,
    and building an ``OutboxMessage`` per row (instance state, instrumented attributes) was most
    of the sender's CPU. The fields are the columns of :data:`_WAITING_COLUMNS`, in order.
    """

    id: int
    key: str
    channel: str
    kind: str
    thread_ts: str | None
    parent_key: str | None
    target_ts: str | None
    target_key: str | None
    broadcast: bool
    priority: int
    attempts: int
    in_doubt: bool
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Parent:
    """The outbox row a reply or an edit refers to: where it stands, its Slack ts once sent."""

    status: str
    ts: str | None


class OutboxLedger:
    """The outbox rows as one sender (``owner``) reads, claims and settles them."""

    def __init__(
        self, *, session_factory: async_sessionmaker[AsyncSession], owner: str, claim: timedelta
    ) -> None:
        self._sessions = session_factory
        self.owner = owner
        self.claim = claim
        self.sent: dict[str, str] = {}  # key -> ts of messages known to be in Slack

    def remember_sent(self, key: str, ts: str) -> None:
        self.sent[key] = ts
        if len(self.sent) > MAX_REMEMBERED:
            del self.sent[next(iter(self.sent))]

    async def pending_count(self) -> int:
        async with reading(self._sessions) as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == STATUS_PENDING)
            )
        return int(count or 0)

    async def read_waiting(self) -> tuple[list[Waiting], dict[str, Parent]]:
        """What waits (oldest first, without payloads), and the messages it refers to, by key."""
        async with reading(self._sessions) as session:
            result = await session.execute(_waiting_statement())
            waiting = [Waiting(*row) for row in result]
            wanted = {row.parent_key for row in waiting if row.parent_key is not None}
            wanted |= {row.target_key for row in waiting if row.target_key is not None}
            refs = {key: Parent(STATUS_SENT, self.sent[key]) for key in wanted if key in self.sent}
            unknown = sorted(wanted - refs.keys())
            for start in range(0, len(unknown), REF_CHUNK):
                found = await session.execute(
                    select(OutboxMessage.key, OutboxMessage.status, OutboxMessage.ts).where(
                        OutboxMessage.key.in_(unknown[start : start + REF_CHUNK])
                    )
                )
                for key, status, ts in found.tuples():
                    refs[key] = Parent(status, ts)
                    if status == STATUS_SENT and ts is not None:
                        self.remember_sent(key, ts)
        return waiting, refs

    async def claim_rows(
        self, post_ids: list[int], edit_ids: list[int], now: datetime
    ) -> dict[int, dict[str, Any]]:
        """Claim rows for this sender in one transaction; their payloads as of the claim, by id.

        Posts are marked ``in_doubt`` before Slack is called: after a crash, they are looked up
        before being posted again. A row another sender holds is left out.
        """
        params = {"o_owner": self.owner, "o_now": now, "o_until": now + self.claim}
        payloads: dict[int, dict[str, Any]] = {}
        async with self._sessions() as session, session.begin():
            for ids, in_doubt in ((post_ids, True), (edit_ids, False)):
                if ids:
                    result = await session.execute(_claim_many_statement(in_doubt), {**params, "o_ids": ids})
                    for row_id, payload in result.tuples():  # (a Result has keys(): not dict(...))
                        payloads[row_id] = payload
        return payloads

    async def renew_claim(self, row_id: int, now: datetime) -> bool:
        """Extend this sender's claim on row ``row_id`` from ``now``; False if it no longer holds it."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row_id,
                    OutboxMessage.status == STATUS_PENDING,
                    OutboxMessage.claimed_by == self.owner,
                )
                .values(claimed_until=now + self.claim)
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def mark_sent(self, sent: list[tuple[int, str]], now: datetime) -> None:
        """Record what went out in this pass, (row id, ts) each, in one statement."""
        if not sent:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                _mark_sent_statement(), [{"o_id": row_id, "o_ts": ts, "o_now": now} for row_id, ts in sent]
            )

    async def release(self, row_id: int) -> None:
        """Give back a claimed row this pass did not send (it stays pending, not in doubt)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == self.owner)
                .values(**_UNCLAIMED)
            )

    async def supersede(self, ids: list[int]) -> int:
        """Edits replaced by a newer edit of their message: never sent. Returns how many."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == STATUS_PENDING)
                .values(status=STATUS_SUPERSEDED, **_UNCLAIMED)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def reschedule(
        self, row_id: int, when: datetime, *, error: str, in_doubt: bool, count_attempt: bool = False
    ) -> None:
        """Row ``row_id`` is tried again at ``when`` (by whichever sender comes first)."""
        values: dict[str, object] = {
            "next_attempt_at": when,
            "error": error,
            "in_doubt": in_doubt,
            **_UNCLAIMED,
        }
        if count_attempt:
            values["attempts"] = OutboxMessage.attempts + 1
        async with self._sessions() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))

    async def fail(self, row_id: int, error: str) -> None:
        """Row ``row_id``, if still pending, will never be sent: ``error`` says why."""
        async with self._sessions() as session, session.begin():
            await session.execute(_failing(OutboxMessage.id == row_id, error))

    async def fail_channel(self, channel: str, error: str) -> list[str]:
        """Every pending message of ``channel`` fails with ``error``; the keys of those that did."""
        async with self._sessions() as session, session.begin():
            keys = (
                await session.scalars(
                    select(OutboxMessage.key).where(
                        OutboxMessage.channel == channel, OutboxMessage.status == STATUS_PENDING
                    )
                )
            ).all()
            await session.execute(_failing(OutboxMessage.channel == channel, error))
        return list(keys)


def _failing(which: Any, error: str) -> Update:
    """The pending rows ``which`` picks fail with ``error`` (settled: no longer in doubt or claimed)."""
    return (
        update(OutboxMessage)
        .where(which, OutboxMessage.status == STATUS_PENDING)
        .values(status=STATUS_FAILED, error=error, in_doubt=False, **_UNCLAIMED)
    )


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


# Everything the scheduler needs of a waiting row (a Waiting's fields); the payload comes with the claim.
_WAITING_COLUMNS = tuple(OutboxMessage.__table__.c[f] for f in Waiting.__dataclass_fields__)


@functools.cache
def _waiting_statement() -> Select[Any]:
    """Every waiting post and edit, oldest first."""
    table = _table()
    return (
        select(*_WAITING_COLUMNS)
        .where(table.c.status == STATUS_PENDING)
        .order_by(table.c.id)
        .limit(MAX_WAITING)
    )


@functools.cache
def _claim_many_statement(mark_in_doubt: bool) -> ReturningUpdate[tuple[int, dict[str, Any]]]:
    """Claim rows ``o_ids`` for ``o_owner`` until ``o_until`` where free at ``o_now``; (id, payload)."""
    table = _table()
    values: dict[str, Any] = {
        "claimed_by": bindparam("o_owner", type_=table.c.claimed_by.type),
        "claimed_until": bindparam("o_until", type_=table.c.claimed_until.type),
    }
    if mark_in_doubt:
        values["in_doubt"] = True
    return (
        update(table)
        .where(
            table.c.id.in_(bindparam("o_ids", expanding=True)),
            table.c.status == STATUS_PENDING,
            or_(
                table.c.claimed_by.is_(None),
                table.c.claimed_by == bindparam("o_owner"),
                table.c.claimed_until < bindparam("o_now", type_=table.c.claimed_until.type),
            ),
        )
        .values(values)
        .returning(table.c.id, table.c.payload)
    )


@functools.cache
def _mark_sent_statement() -> Update:
    """Row ``o_id`` went out as Slack message ``o_ts`` at ``o_now``."""
    table = _table()
    return (
        update(table)
        .where(table.c.id == bindparam("o_id"))
        .values(
            status=STATUS_SENT,
            ts=bindparam("o_ts", type_=table.c.ts.type),
            sent_at=bindparam("o_now", type_=table.c.sent_at.type),
            in_doubt=False,
            error=None,
            attempts=table.c.attempts + 1,
            claimed_by=None,
            claimed_until=None,
        )
    )
