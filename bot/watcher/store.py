"""A watch's snapshot in the database: its head in ``watches.snapshot``, each item in ``watch_items``.

A 1,000-VM plan's snapshot is about a megabyte of JSON, while a poll changes a few items of it.
So a poll writes only the items that differ from the snapshot it started from (one executemany
upsert), deletes the keys it dropped, and rewrites the head only when the head changed.

The writer prepares :class:`SnapshotChanges` before its transaction (the JSON is built outside
SQLite's write turn) and calls :func:`save_items` in the transaction whose guarded UPDATE of the
watch row carried :attr:`SnapshotChanges.head`, after that UPDATE matched: a poll that lost its
lease writes nothing. The "snapshot it started from" must be the stored one; the watcher's cache
guarantees it, being keyed by the watch's revision, which every write bumps.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, TextClause, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import insert_on_conflict
from bot.watcher.snapshot import Snapshot, changed_items, item_json
from bot.watcher.tables import Watch, WatchItem


@dataclass(frozen=True)
class SnapshotChanges:
    """What storing ``new`` over the stored ``old`` writes."""

    watch_id: int
    head: dict[str, Any] | None  # the new head when it changed (for the watch row's UPDATE)
    items: Sequence[dict[str, Any]]  # watch_items rows to upsert
    gone: Sequence[str]  # keys to delete

    @functools.cached_property
    def size(self) -> int:
        """JSON bytes written (head and items): for the benchmarks, worked out only when asked."""
        size = sum(len(json.dumps(row["item"])) for row in self.items)
        return size + (len(json.dumps(self.head)) if self.head is not None else 0)

    @classmethod
    def between(cls, watch_id: int, old: Snapshot, new: Snapshot) -> SnapshotChanges:
        head = None if new.same_head(old) else new.head_json()
        changed, gone = changed_items(old, new)
        items = [{"watch_id": watch_id, "key": item.key, "item": item_json(item)} for item in changed]
        return cls(watch_id=watch_id, head=head, items=items, gone=gone)


async def save_items(session: AsyncSession, changes: SnapshotChanges) -> None:
    """Write the changed items and delete the dropped ones, in ``session``'s transaction."""
    if changes.items:
        await session.execute(_upsert(), list(changes.items))
    if changes.gone:
        await session.execute(
            delete(WatchItem).where(WatchItem.watch_id == changes.watch_id, WatchItem.key.in_(changes.gone))
        )


async def load_snapshot(session: AsyncSession, watch_id: int) -> Snapshot:
    """The stored snapshot of ``watch_id``: its head and every item."""
    head = await session.scalar(select(Watch.snapshot).where(Watch.id == watch_id))
    rows = await session.execute(select(WatchItem.key, WatchItem.item).where(WatchItem.watch_id == watch_id))
    return Snapshot.from_stored(head, rows.tuples())


def _upsert() -> TextClause:
    """``INSERT ... ON CONFLICT (watch_id, key) DO UPDATE SET item``."""
    table = WatchItem.__table__
    assert isinstance(table, Table)
    return insert_on_conflict(table, ("watch_id", "key", "item"), ("watch_id", "key"), ("item",))
