"""Snapshot writes scale with what changed: the head in the watch row, one row per item.

A poll writes the items that changed (and only those), in the transaction of its guarded
UPDATE; a replica that takes a watch over reads back the very snapshot the writer held; a
poll that lost the watch writes nothing; the migration moves items out of heads and back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, delete, event, func, insert, pool, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db import reading, sync_url
from bot.migrate import alembic_config, downgrade, upgrade
from bot.vro.models import (
    ExecutionDetail,
    GroupRuntimeDetails,
    Page,
    PlanRuntimeDetails,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.watcher.diff import advance
from bot.watcher.service import Watcher, WatcherConfig
from bot.watcher.snapshot import Observation, Snapshot, changed_items, group_key, item_json, step_key, vm_key
from bot.watcher.store import load_snapshot
from bot.watcher.tables import Watch, WatchItem
from tests.watcher.builders import group, plan, result, step, vm

CONFIG = WatcherConfig(poll_seconds=5, poll_max_seconds=30, batch_seconds=0, card_interval=5)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VMS = ("v1", "v2")
STEPS = ("s1", "s2", "s3")
G1 = group_key("g1")


def skey(vm_id: str, step_id: str) -> str:
    return step_key(vm_key(vm_id), step_id)


class FakeRun:
    """VRO's RuntimeDetails of one running plan (one group, two VMs of three steps); the test
    finishes one step at a time. ``during_read`` runs once, inside the next plan read (between
    a poll's claim and its commit)."""

    def __init__(self) -> None:
        self.done: dict[str, list[str]] = {vm_id: [] for vm_id in VMS}
        self.during_read: Callable[[], Awaitable[None]] | None = None

    def finish(self, vm_id: str, step_id: str) -> None:
        self.done[vm_id].append(step_id)

    def _progress(self, vm_id: str | None = None) -> int:
        done = sum(len(steps) for key, steps in self.done.items() if vm_id in (None, key))
        return round(100 * done / (len(STEPS) * (1 if vm_id else len(VMS))))

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails:
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            await hook()
        return plan("FailoverInProgress", progress=self._progress(), plan_id=plan_id)

    async def get_groups_runtime(
        self, plan_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[GroupRuntimeDetails]:
        return Page(total=1, data=[group("g1", "Web tier", "Running", progress=self._progress())])

    async def get_group_vms_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[VmRuntimeDetails]:
        vms = [vm(v, f"web-{v}", "Running", progress=self._progress(v)) for v in VMS]
        return Page(total=len(vms), data=vms)

    async def get_group_steps_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]:
        return Page()

    async def get_vm_steps_runtime(
        self, plan_id: str, vm_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]:
        steps = [
            step(s, f"Step {s}", "Completed", progress=100, res=result("Success", start=T0, finish=T0))
            if s in self.done[vm_id]
            else step(s, f"Step {s}", "Running" if s == "s1" else "NotStarted")
            for s in STEPS
        ]
        return Page(total=len(steps), data=steps)

    async def get_step_runtime(self, plan_id: str, step_id: str) -> Page[ExecutionDetail]:
        return Page()


@dataclass
class Writes:
    """The statements a test's engine ran against ``watch_items``: item rows upserted, keys deleted."""

    upserted: list[dict[str, Any]] = field(default_factory=list)
    deleted: int = 0

    def keys(self) -> set[str]:
        return {row["key"] for row in self.upserted}

    def clear(self) -> None:
        self.upserted.clear()
        self.deleted = 0


@dataclass
class Rig:
    clock: FakeClock
    run: FakeRun
    sessions: async_sessionmaker[AsyncSession]
    writes: Writes

    def watcher(self, owner: str) -> Watcher:
        return Watcher(
            session_factory=self.sessions, source=self.run, clock=self.clock, config=CONFIG, owner=owner
        )

    async def stored(self, watch_id: int) -> Snapshot:
        async with reading(self.sessions) as session:
            return await load_snapshot(session, watch_id)

    async def item_rows(self, watch_id: int) -> dict[str, dict[str, Any]]:
        async with reading(self.sessions) as session:
            rows = await session.execute(
                select(WatchItem.key, WatchItem.item).where(WatchItem.watch_id == watch_id)
            )
            return dict(rows.tuples().all())


@pytest.fixture
def writes(db_engine: AsyncEngine) -> Iterator[Writes]:
    seen = Writes()

    def after_execute(
        conn: Connection, clause: Any, multiparams: Any, params: Any, options: Any, result: Any
    ) -> None:
        rows = multiparams if isinstance(multiparams, list) and multiparams else [params]
        # The upsert is a text clause (see bot.db.insert_on_conflict); the delete a table's DELETE.
        if str(getattr(clause, "text", "")).startswith(f'INSERT INTO "{WatchItem.__tablename__}"'):
            seen.upserted.extend(rows)
        elif getattr(getattr(clause, "table", None), "name", None) == WatchItem.__tablename__:
            assert clause.is_delete, "watch items are written by the upsert, removed by a DELETE"
            seen.deleted += int(result.rowcount)

    event.listen(db_engine.sync_engine, "after_execute", after_execute)
    try:
        yield seen
    finally:
        event.remove(db_engine.sync_engine, "after_execute", after_execute)


@pytest.fixture
def rig(clock: FakeClock, db_sessions: async_sessionmaker[AsyncSession], writes: Writes) -> Rig:
    return Rig(clock=clock, run=FakeRun(), sessions=db_sessions, writes=writes)


async def started(rig: Rig, watcher: Watcher) -> int:
    """A watch of the running plan, polled once (every item it saw is stored)."""
    watch_id = await watcher.start_watch("p1", "C0DR", action="Failover")
    assert await watcher.poll_once() == 1
    return watch_id


# --- the pure part: what counts as changed --------------------------------------------------


def observation(run_steps: dict[str, list[str]]) -> Observation:
    return Observation(
        plan=plan("FailoverInProgress", progress=10),
        at=T0,
        groups=[group("g1", "Web tier", "Running", progress=10)],
        vms={G1: [vm(v, f"web-{v}", "Running", progress=10 * len(run_steps[v])) for v in VMS]},
        steps={
            vm_key(v): [
                step(s, f"Step {s}", "Completed", res=result("Success"))
                if s in run_steps[v]
                else step(s, f"Step {s}")
                for s in STEPS
            ]
            for v in VMS
        },
    )


def test_advance_keeps_items_it_did_not_read_as_the_same_objects() -> None:
    first, _ = advance(Snapshot(), observation({"v1": [], "v2": []}))
    only_v1 = observation({"v1": ["s1"], "v2": []})
    only_v1.vms[G1] = [v for v in only_v1.vms[G1] if v.id == "v1"]
    del only_v1.steps[vm_key("v2")]
    second, _ = advance(first, only_v1)
    for s in STEPS:
        assert second.items[skey("v2", s)] is first.items[skey("v2", s)]
    assert second.items[skey("v1", "s2")] is not first.items[skey("v1", "s2")]  # re-read...
    assert second.items[skey("v1", "s2")] == first.items[skey("v1", "s2")]  # ...unchanged


def test_changed_items_are_the_new_and_the_different_ones_not_the_re_read_equal_ones() -> None:
    first, _ = advance(Snapshot(), observation({"v1": [], "v2": []}))
    assert {i.key for i in changed_items(Snapshot(), first)[0]} == set(first.items)
    second, _ = advance(first, observation({"v1": ["s1"], "v2": []}))
    changed, gone = changed_items(first, second)
    assert {i.key for i in changed} == {vm_key("v1"), skey("v1", "s1")}
    assert gone == []
    dropped = second.model_copy(update={"items": {k: v for k, v in second.items.items() if k != G1}})
    assert changed_items(second, dropped) == ([], [G1])


def test_a_snapshot_stored_as_head_and_items_reads_back_equal_and_in_first_seen_order() -> None:
    snap, _ = advance(Snapshot(), observation({"v1": ["s1"], "v2": []}))
    assert "items" not in snap.head_json()
    pairs = [(key, item_json(item)) for key, item in reversed(snap.items.items())]
    back = Snapshot.from_stored(snap.head_json(), pairs)
    assert back == snap
    assert list(back.items) == list(snap.items)
    assert Snapshot.from_stored(None, []) == Snapshot()


# --- writing --------------------------------------------------------------------------------


async def test_a_poll_that_finishes_one_step_writes_only_the_items_that_changed(rig: Rig) -> None:
    """The step and the VM and group whose progress moved; not the VM's other (re-read) steps,
    not the other VM's."""
    watcher = rig.watcher("w1")
    watch_id = await started(rig, watcher)
    assert len(rig.writes.keys()) == 1 + len(VMS) + len(VMS) * len(STEPS)  # the first poll: everything
    rig.writes.clear()

    rig.run.finish("v1", "s1")
    rig.clock.advance(CONFIG.poll_seconds)
    assert await watcher.poll_once() == 1

    assert rig.writes.keys() == {G1, vm_key("v1"), skey("v1", "s1")}
    assert len(rig.writes.upserted) == 3
    assert rig.writes.deleted == 0
    stored = await rig.stored(watch_id)
    assert stored.items[skey("v1", "s1")].phase == "completed"
    rows = await rig.item_rows(watch_id)
    assert rows[skey("v1", "s1")] == item_json(stored.items[skey("v1", "s1")])
    assert len(rows) == len(stored.items) == 1 + len(VMS) + len(VMS) * len(STEPS)


async def test_a_poll_that_changes_nothing_writes_no_item(rig: Rig) -> None:
    watcher = rig.watcher("w1")
    await started(rig, watcher)
    rig.writes.clear()
    rig.clock.advance(CONFIG.poll_seconds)
    assert await watcher.poll_once() == 1
    assert rig.writes.upserted == []


async def test_a_replica_taking_over_reloads_the_snapshot_the_writer_held(rig: Rig) -> None:
    writer = rig.watcher("w1")
    watch_id = await started(rig, writer)
    for vm_id, step_id in (("v1", "s1"), ("v2", "s1"), ("v1", "s2")):
        rig.run.finish(vm_id, step_id)
        rig.clock.advance(CONFIG.poll_seconds)
        assert await writer.poll_once() == 1
    held = writer.polling.cached_snapshot(watch_id)  # what the writer has in memory
    assert held is not None

    rig.clock.advance(CONFIG.lease_seconds + 1)  # the writer looks dead
    replica = rig.watcher("w2")
    async with rig.sessions() as session:
        row = await session.get(Watch, watch_id)
    assert row is not None
    reloaded = await replica.polling.snapshot(row)  # a cache miss: read from the database
    assert reloaded == held
    assert list(reloaded.items) == list(held.items)
    assert reloaded.head_json() == held.head_json()

    rig.writes.clear()
    rig.run.finish("v2", "s2")
    assert await replica.poll_once() == 1
    assert rig.writes.keys() == {G1, vm_key("v2"), skey("v2", "s2")}  # it carries on from there
    assert replica.stats.events == 1  # the one step that finished, nothing narrated again


async def test_a_poll_that_lost_the_watch_meanwhile_writes_no_item(rig: Rig) -> None:
    """Another writer committed between this poll's claim and its commit (revision mismatch)."""
    watcher = rig.watcher("w1")
    watch_id = await started(rig, watcher)
    before = await rig.item_rows(watch_id)

    async def another_writer() -> None:
        async with rig.sessions() as session, session.begin():
            await session.execute(
                update(Watch).where(Watch.id == watch_id).values(revision=Watch.revision + 1)
            )

    rig.run.during_read = another_writer
    rig.run.finish("v1", "s1")
    rig.writes.clear()
    rig.clock.advance(CONFIG.poll_seconds)
    assert await watcher.poll_once() == 1

    assert watcher.stats.lost_leases == 1
    assert rig.writes.upserted == []
    assert rig.writes.deleted == 0
    assert await rig.item_rows(watch_id) == before

    rig.clock.advance(CONFIG.poll_seconds)  # the next poll reads the stored snapshot again
    assert await watcher.poll_once() == 1
    assert rig.writes.keys() == {G1, vm_key("v1"), skey("v1", "s1")}


async def test_deleting_a_watch_deletes_its_items(rig: Rig) -> None:
    watch_id = await started(rig, rig.watcher("w1"))
    assert await rig.item_rows(watch_id)
    async with rig.sessions() as session, session.begin():
        await session.execute(delete(Watch).where(Watch.id == watch_id))
    async with reading(rig.sessions) as session:
        assert await session.scalar(select(func.count()).select_from(WatchItem)) == 0


# --- the migration --------------------------------------------------------------------------


def _sync_engine(url: str) -> Engine:
    return create_engine(sync_url(url), poolclass=pool.NullPool)


ITEMS_REVISION = "0009_watch_items"


def _before_items() -> str:
    """The revision the items migration starts from."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return str(script.get_revision(ITEMS_REVISION).down_revision)


def test_the_migration_moves_items_out_of_heads_and_back(database_url: str) -> None:
    snap, _ = advance(Snapshot(), observation({"v1": ["s1"], "v2": []}))
    full = snap.model_dump(mode="json", exclude_defaults=True)  # a snapshot as it was stored before
    assert full["items"]
    before_items = _before_items()
    command.upgrade(alembic_config(database_url), before_items)
    engine = _sync_engine(database_url)
    try:
        with engine.begin() as conn:
            ids = [
                conn.execute(
                    insert(Watch)
                    .values(
                        plan_id=plan_id,
                        plan_name=plan_id,
                        channel="C0DR",
                        status="active",
                        snapshot=snapshot,
                        next_poll_at=T0,
                        interval_seconds=5.0,
                        started_at=T0,
                    )
                    .returning(Watch.id)
                ).scalar_one()
                for plan_id, snapshot in (("p1", full), ("p2", None))
            ]

        upgrade(database_url)
        with engine.connect() as conn:
            head = conn.execute(select(Watch.snapshot).where(Watch.id == ids[0])).scalar_one()
            rows = conn.execute(
                select(WatchItem.key, WatchItem.item).where(WatchItem.watch_id == ids[0])
            ).tuples()
            assert "items" not in head
            assert Snapshot.from_stored(head, rows) == snap
            assert conn.execute(select(Watch.snapshot).where(Watch.id == ids[1])).scalar_one() is None
            assert conn.execute(select(func.count()).select_from(WatchItem)).scalar_one() == len(snap.items)

        downgrade(database_url, before_items)
        with engine.connect() as conn:
            stored = dict(conn.execute(select(Watch.id, Watch.snapshot)).tuples().all())
        assert stored == {ids[0]: full, ids[1]: None}
        assert list(stored[ids[0]]["items"]) == list(full["items"])  # first seen first, as before
    finally:
        engine.dispose()
