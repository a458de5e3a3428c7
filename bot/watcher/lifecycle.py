"""A watch's life around the send: opened with the claim, turned active or closed by VRO's answer.

These functions run inside the caller's transaction (the approval service's claim and answer
transactions), so a watch exists from the moment its action is claimed, whatever happens to
the process or to Slack afterwards:

- :func:`open_sending_watch` writes the watch (``sending``, not polled) with its baseline: the
  plan's RuntimeDetails read just before the send. The thread's root is the approval card,
  named by its outbox key, so nothing waits for Slack to have posted it.
- :func:`activate_watch` turns it ``active`` once VRO accepted the action (or when the send's
  outcome is unknown: VRO's data will tell). An older active watch of the same plan in the same
  channel is superseded: it closes with a line pointing to the new thread.
- :func:`close_sending_watch` closes it with VRO's message when VRO refused the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox.store import Message, enqueue_post, enqueue_update, get_message
from bot.slack.blocks.kit import esc
from bot.watcher.render import WatchInfo, status_card
from bot.watcher.snapshot import Snapshot
from bot.watcher.store import load_snapshot
from bot.watcher.tables import (
    STATUS_ACTIVE,
    STATUS_CLOSED,
    STATUS_SENDING,
    STATUS_SUPERSEDED,
    Watch,
)

DEFAULT_NO_RUN_SECONDS = 600.0

TEXT_SUPERSEDED = (
    "↪️ A newer action on *{plan}* ({action}) is narrated in its own thread{link}. I stop narrating here."
)


def card_key(watch_id: int) -> str:
    """The outbox key of a watch's status card."""
    return f"watch:{watch_id}:card"


@dataclass(frozen=True)
class NewWatch:
    """What the claim knows about the watch it opens."""

    plan_id: str
    plan_name: str
    channel: str
    request_id: str
    action: str
    requested_by: str
    approved_by: Sequence[str]
    thread_key: str
    baseline: dict[str, Any] | None


async def open_sending_watch(
    session: AsyncSession, new: NewWatch, *, now: datetime, poll_seconds: float
) -> int:
    """Write the watch of an action being claimed (``sending``: not polled yet); its id."""
    return await add_watch(
        session,
        plan_id=new.plan_id,
        plan_name=new.plan_name,
        channel=new.channel,
        status=STATUS_SENDING,
        now=now,
        poll_seconds=poll_seconds,
        thread_key=new.thread_key,
        request_id=new.request_id,
        action=new.action,
        requested_by=new.requested_by,
        approved_by=new.approved_by,
        baseline=new.baseline,
    )


async def add_watch(
    session: AsyncSession,
    *,
    plan_id: str,
    plan_name: str,
    channel: str,
    status: str,
    now: datetime,
    poll_seconds: float,
    thread_ts: str | None = None,
    thread_key: str | None = None,
    request_id: str | None = None,
    action: str | None = None,
    requested_by: str | None = None,
    approved_by: Sequence[str] = (),
    baseline: dict[str, Any] | None = None,
) -> int:
    """Add a new watch row (nothing seen yet, due for a poll now) with its card key; its id."""
    watch = Watch(
        plan_id=plan_id,
        plan_name=plan_name,
        channel=channel,
        thread_ts=thread_ts,
        thread_key=thread_key,
        request_id=request_id,
        action=action,
        requested_by=requested_by,
        approved_by=list(approved_by),
        status=status,
        snapshot=None,
        sequence=0,
        revision=0,
        pending=[],
        card_rev=0,
        card_written_at=now,
        next_poll_at=now,
        interval_seconds=poll_seconds,
        vro_unreachable=False,
        started_at=now,
        baseline=baseline,
    )
    session.add(watch)
    await session.flush()
    watch.card_key = card_key(watch.id)
    await session.flush()
    return watch.id


async def sending_watch(session: AsyncSession, request_id: str) -> Watch | None:
    """The watch opened by the claim of ``request_id`` while it is still ``sending``."""
    return (
        await session.scalars(
            select(Watch).where(Watch.request_id == request_id, Watch.status == STATUS_SENDING).limit(1)
        )
    ).first()


async def activate_watch(
    session: AsyncSession,
    request_id: str,
    *,
    now: datetime,
    no_run_seconds: float = DEFAULT_NO_RUN_SECONDS,
    note: str | None = None,
) -> int | None:
    """Turn the ``sending`` watch of ``request_id`` active (polled at once); its id, if any.

    An active watch of the same plan in the same channel is superseded first (one active watch
    per plan and channel): its thread gets a line pointing to the new one, its card says so.
    """
    watch = await sending_watch(session, request_id)
    if watch is None:
        return None
    older = (
        await session.scalars(
            select(Watch).where(
                Watch.plan_id == watch.plan_id,
                Watch.channel == watch.channel,
                Watch.status == STATUS_ACTIVE,
            )
        )
    ).all()
    for old in older:
        await _supersede(session, old, watch, now=now)
    await session.execute(
        update(Watch)
        .where(Watch.id == watch.id, Watch.status == STATUS_SENDING)
        .values(
            status=STATUS_ACTIVE,
            next_poll_at=now,
            no_run_deadline=now + timedelta(seconds=no_run_seconds),
            note=note,
            revision=Watch.revision + 1,
        )
    )
    info = watch_info(watch)
    await enqueue_post(
        session,
        key=card_key(watch.id),
        channel=watch.channel,
        message=status_card(info, Snapshot(), now=now),
        now=now,
        **thread_of(watch),
    )
    return watch.id


async def close_sending_watch(session: AsyncSession, request_id: str, *, now: datetime, note: str) -> bool:
    """Close the ``sending`` watch of ``request_id`` (VRO refused: nothing to narrate)."""
    result = await session.execute(
        update(Watch)
        .where(Watch.request_id == request_id, Watch.status == STATUS_SENDING)
        .values(status=STATUS_CLOSED, finished_at=now, note=note, lease_owner=None, lease_expires_at=None)
    )
    return bool(getattr(result, "rowcount", 0))


def thread_of(watch: Watch) -> dict[str, Any]:
    """Where a watch's messages go: a known thread ts, the card's outbox key, or its own card."""
    if watch.thread_ts is not None:
        return {"thread_ts": watch.thread_ts}
    if watch.thread_key is not None:
        return {"parent_key": watch.thread_key}
    return {}


def watch_info(row: Watch, *, plan_name: str | None = None) -> WatchInfo:
    return WatchInfo(
        plan_id=row.plan_id,
        plan_name=plan_name or row.plan_name,
        action=row.action,
        requested_by=row.requested_by,
        approved_by=tuple(row.approved_by or ()),
        started_at=row.started_at,
    )


async def _supersede(session: AsyncSession, old: Watch, new: Watch, *, now: datetime) -> None:
    result = await session.execute(
        update(Watch)
        .where(Watch.id == old.id, Watch.status == STATUS_ACTIVE)
        .values(
            status=STATUS_SUPERSEDED,
            finished_at=now,
            note=f"superseded by watch {new.id}",
            lease_owner=None,
            lease_expires_at=None,
            revision=Watch.revision + 1,
            pending=[],
        )
    )
    if not getattr(result, "rowcount", 0):
        return
    link = await _thread_link(session, new)
    text = TEXT_SUPERSEDED.format(plan=esc(new.plan_name), action=esc(new.action or "watch"), link=link)
    where = thread_of(old) or {"parent_key": old.card_key or card_key(old.id)}
    await enqueue_post(
        session,
        key=f"watch:{old.id}:superseded",
        channel=old.channel,
        message=Message(text=text),
        now=now,
        **where,
    )
    info = watch_info(old)
    snapshot = await load_snapshot(session, old.id)
    await enqueue_update(
        session,
        key=f"watch:{old.id}:card:superseded",
        channel=old.channel,
        message=status_card(info, snapshot, now=now, status=STATUS_SUPERSEDED),
        now=now,
        target_key=old.card_key or card_key(old.id),
    )


async def _thread_link(session: AsyncSession, watch: Watch) -> str:
    """`` (<permalink|here>)`` when the new thread's root is already in Slack, else nothing."""
    ts = watch.thread_ts
    if ts is None and watch.thread_key is not None:
        root = await get_message(session, watch.thread_key)
        ts = root.ts if root is not None else None
    if ts is None:
        return " (the newest card in the channel)"
    return f" (<https://slack.com/archives/{watch.channel}/p{ts.replace('.', '')}|here>)"
