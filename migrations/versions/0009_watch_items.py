"""A watch's snapshot items get a row each (``watch_items``); ``watches.snapshot`` keeps the head.

A poll then writes only the items that changed instead of the whole snapshot. The upgrade moves
each watch's ``items`` out of its snapshot JSON into rows (keyed by the item's key, which the
row's JSON no longer repeats); the downgrade puts them back. Both work one watch at a time, in
Python, so they read the same on SQLite and PostgreSQL and never hold every snapshot in memory.

Revision ID: 0009_watch_items
Revises: 0008_channel_board
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009_watch_items"
down_revision: str | None = "0008_channel_board"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_watches = sa.table("watches", sa.column("id", sa.Integer()), sa.column("snapshot", sa.JSON()))
_items = sa.table(
    "watch_items",
    sa.column("watch_id", sa.Integer()),
    sa.column("key", sa.String(length=255)),
    sa.column("item", sa.JSON()),
)


def upgrade() -> None:
    op.create_table(
        "watch_items",
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("item", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["watch_id"],
            ["watches.id"],
            name=op.f("fk_watch_items_watch_id_watches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("watch_id", "key", name=op.f("pk_watch_items")),
    )
    bind = op.get_bind()
    for watch_id in _watch_ids(bind):
        snapshot = _snapshot(bind, watch_id)
        if not isinstance(snapshot, dict) or "items" not in snapshot:
            continue
        items: dict[str, dict[str, Any]] = snapshot.pop("items") or {}
        rows = [
            {"watch_id": watch_id, "key": key, "item": {k: v for k, v in item.items() if k != "key"}}
            for key, item in items.items()
        ]
        if rows:
            bind.execute(sa.insert(_items), rows)
        bind.execute(sa.update(_watches).where(_watches.c.id == watch_id).values(snapshot=snapshot))


def downgrade() -> None:
    bind = op.get_bind()
    for watch_id in _watch_ids(bind):
        rows = bind.execute(sa.select(_items.c.key, _items.c.item).where(_items.c.watch_id == watch_id)).all()
        if not rows:
            continue
        snapshot = _snapshot(bind, watch_id)
        head: dict[str, Any] = snapshot if isinstance(snapshot, dict) else {}
        ordered = sorted(rows, key=lambda row: int(row[1].get("order", 0)))  # first seen first, as it was
        head["items"] = {key: {"key": key, **item} for key, item in ordered}
        bind.execute(sa.update(_watches).where(_watches.c.id == watch_id).values(snapshot=head))
    op.drop_table("watch_items")


def _watch_ids(bind: sa.Connection) -> list[int]:
    return list(bind.execute(sa.select(_watches.c.id).order_by(_watches.c.id)).scalars())


def _snapshot(bind: sa.Connection, watch_id: int) -> Any:
    return bind.execute(sa.select(_watches.c.snapshot).where(_watches.c.id == watch_id)).scalar_one()
