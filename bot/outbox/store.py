"""Writing messages into the outbox, inside the caller's transaction.

The writer (the watcher, or any other part of the bot) adds rows in the same transaction that
records why the message exists, under a key it can derive again after a crash. Adding a key
that is already there does nothing: that is what makes a replayed poll harmless.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Update, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import insert_on_conflict
from bot.outbox.tables import KIND_POST, KIND_UPDATE, PRIORITY_NORMAL, STATUS_PENDING, OutboxMessage
from bot.slack.message import Message as Message  # re-exported: the outbox's callers name it here

MAX_KEY_LENGTH = 255


async def enqueue_post(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    message: Message,
    now: datetime,
    thread_ts: str | None = None,
    parent_key: str | None = None,
    broadcast: bool = False,
    priority: int = PRIORITY_NORMAL,
) -> bool:
    """Queue a new message (a thread reply when ``thread_ts`` or ``parent_key`` is given).

    ``priority`` (``PRIORITY_NOTICE`` for summaries, halts, notices people must see) lets the
    message's thread go ahead of the channel's other threads; a thread stays in order.
    Returns False when a row with this key exists already (nothing is written).
    """
    if thread_ts is not None and parent_key is not None:
        raise ValueError("give the thread parent as thread_ts or parent_key, not both")
    return await _insert(
        session,
        key=key,
        channel=channel,
        kind=KIND_POST,
        thread_ts=thread_ts,
        parent_key=parent_key,
        broadcast=broadcast,
        priority=priority,
        payload=message.payload(),
        now=now,
    )


async def enqueue_update(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    message: Message,
    now: datetime,
    target_ts: str | None = None,
    target_key: str | None = None,
    priority: int = PRIORITY_NORMAL,
) -> bool:
    """Queue an edit of an existing message, named by ``target_ts`` or by its outbox ``target_key``.

    Several queued edits of one message collapse: the sender only sends the newest. Edits are
    sent most stale first workspace-wide, those with a higher ``priority`` before the rest.
    """
    if (target_ts is None) == (target_key is None):
        raise ValueError("name the message to update by target_ts or target_key (exactly one)")
    return await _insert(
        session,
        key=key,
        channel=channel,
        kind=KIND_UPDATE,
        target_ts=target_ts,
        target_key=target_key,
        priority=priority,
        payload=message.payload(),
        now=now,
    )


async def refresh_pending_update(
    session: AsyncSession,
    *,
    channel: str,
    target_key: str,
    message: Message,
    priority: int = PRIORITY_NORMAL,
) -> bool:
    """Replace the payload of an edit of ``target_key`` that is still waiting, if there is one.

    Edits of one message collapse anyway (only the newest is sent); refreshing the waiting one
    in place keeps a busy writer from piling up rows. Returns False when none was waiting (the
    caller then queues a new edit). A row a sender has claimed is left alone. The edit keeps
    the higher of its priority and ``priority``, and its age (how long the message is stale).
    """
    result = await session.execute(
        _refresh_statement(),
        {
            "o_channel": channel,
            "o_target_key": target_key,
            "v_payload": message.payload(),
            "v_priority": priority,
        },
    )
    return bool(getattr(result, "rowcount", 0))


async def queue_edit(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    message: Message,
    now: datetime,
    target_key: str,
    priority: int = PRIORITY_NORMAL,
) -> None:
    """Queue an edit of the message ``target_key``: the waiting edit gets the new payload if there
    is one (:func:`refresh_pending_update`), else a new edit is written under ``key``."""
    if not await refresh_pending_update(
        session, channel=channel, target_key=target_key, message=message, priority=priority
    ):
        await enqueue_update(
            session,
            key=key,
            channel=channel,
            message=message,
            now=now,
            target_key=target_key,
            priority=priority,
        )


async def get_message(session: AsyncSession, key: str) -> OutboxMessage | None:
    """The outbox row with ``key``."""
    result = await session.execute(select(OutboxMessage).where(OutboxMessage.key == key))
    return result.scalar_one_or_none()


async def _insert(session: AsyncSession, *, key: str, now: datetime, **values: Any) -> bool:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an outbox key must have 1 to {MAX_KEY_LENGTH} characters")
    row = {
        "key": key,
        "status": STATUS_PENDING,
        "attempts": 0,
        "in_doubt": False,
        "broadcast": False,
        "priority": PRIORITY_NORMAL,
        "next_attempt_at": now,
        "created_at": now,
        **values,
    }
    result = await session.execute(insert_on_conflict(_table(), tuple(sorted(row)), ("key",)), row)
    return bool(getattr(result, "rowcount", 0))


# The statements are built once and run with bound parameters: building them per message (ORM
# attribute comparisons, coercions) cost more CPU than running them.


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


async def pending_backlog(sessions: async_sessionmaker[AsyncSession], now: datetime) -> tuple[int, float]:
    """Rows waiting to be sent, and how long the oldest has waited (seconds): for the metrics."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.status == STATUS_PENDING
                )
            )
        ).one()
    depth, oldest = int(row[0] or 0), row[1]
    return depth, max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


@functools.cache
def _refresh_statement() -> Update:
    table = _table()
    return (
        update(table)
        .where(
            table.c.channel == bindparam("o_channel"),
            table.c.kind == KIND_UPDATE,
            table.c.target_key == bindparam("o_target_key"),
            table.c.status == STATUS_PENDING,
            table.c.claimed_by.is_(None),
        )
        .values(
            payload=bindparam("v_payload", type_=table.c.payload.type),
            priority=case(
                (table.c.priority > bindparam("v_priority"), table.c.priority),
                else_=bindparam("v_priority"),
            ),
        )
    )
