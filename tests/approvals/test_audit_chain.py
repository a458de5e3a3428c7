"""The audit log's hash chain: sealed at commit, verified row by row, tampering named, no forks."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import cli
from bot.approvals.chain import GENESIS, ChainVerifier, Damage, Head, link
from bot.approvals.export import export_audit
from bot.approvals.policy import Policy
from bot.approvals.tables import AuditEntry
from bot.approvals.verify import ChainMonitor, verify_database
from bot.clock import FakeClock
from bot.db import create_engine, session_factory, sync_url
from bot.migrate import downgrade, upgrade
from bot.vro.actions import PlanAction
from tests.approvals.conftest import ServiceFactory, ready_plan

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- the pure chain ----------------------------------------------------------------------------


def _rows(n: int) -> list[tuple[int, str, str, dict[str, object]]]:
    rows = []
    prev = GENESIS
    for i in range(1, n + 1):
        content = {"at": AT, "actor": f"U{i}", "event": "approval", "detail": {"n": i}}
        digest = link(prev, content)
        rows.append((i, prev, digest, content))
        prev = digest
    return rows


def _verify(rows: list[tuple[int, str, str, dict[str, object]]], head: Head | None = None) -> ChainVerifier:
    by_hash = {digest: row_id for row_id, _, digest, _ in rows}
    verifier = ChainVerifier(find_hash=by_hash.get)
    for row in rows:
        if not verifier.feed(*row):
            break
    verifier.finish(head)
    return verifier


def test_an_untouched_chain_verifies_to_its_head() -> None:
    rows = _rows(5)
    verifier = _verify(rows, Head(5, rows[-1][2], 5))
    assert verifier.finding is None
    assert verifier.head == Head(5, rows[-1][2], 5)


def test_an_edited_row_is_named() -> None:
    rows = _rows(5)
    row_id, prev, digest, content = rows[2]
    rows[2] = (row_id, prev, digest, {**content, "actor": "UMALLORY"})
    finding = _verify(rows).finding
    assert finding is not None
    assert (finding.row_id, finding.damage) == (3, Damage.EDITED)


def test_a_deleted_row_is_named_by_the_gap_it_leaves() -> None:
    rows = _rows(5)
    del rows[2]
    finding = _verify(rows).finding
    assert finding is not None
    assert (finding.row_id, finding.damage) == (4, Damage.DELETED)
    assert finding.message == ("a row was deleted between row 2 and row 4: row 4 links to a row that is gone")


def test_rows_moved_around_are_out_of_order() -> None:
    rows = _rows(5)
    third, fourth = rows[2], rows[3]
    rows[2] = (3, *fourth[1:])  # ids swapped: row 3 now holds what was row 4
    rows[3] = (4, *third[1:])
    finding = _verify(rows).finding
    assert finding is not None
    assert (finding.row_id, finding.damage) == (3, Damage.REORDERED)


def test_rows_cut_off_the_end_show_against_the_recorded_head() -> None:
    rows = _rows(5)
    head = Head(5, rows[-1][2], 5)
    finding = _verify(rows[:3], head).finding
    assert finding is not None
    assert (finding.row_id, finding.damage) == (4, Damage.DELETED)


def test_a_column_added_later_and_left_empty_does_not_change_old_hashes() -> None:
    content = {"at": AT, "actor": "U1", "event": "approval", "detail": {}}
    assert link(GENESIS, content) == link(GENESIS, {**content, "team": None})
    assert link(GENESIS, content) != link(GENESIS, {**content, "team": "T1"})


# --- sealed in the database ------------------------------------------------------------------


async def _activity(make_service: ServiceFactory, clock: FakeClock, requests: int = 3) -> None:
    service = make_service(policy=Policy.from_yaml("defaults: {approvals: 1}\n"))
    for i in range(requests):
        outcome = await service.request(
            requester="U0REQ",
            verb="failover",
            action=PlanAction.FAILOVER,
            plan=ready_plan(),
            params={},
            reason=f"INC-{i}",
            channel="C0INC",
        )
        assert outcome.request is not None
        clock.advance(60)
        await service.approve(outcome.request.id, "U0LEAD1")


def _tamper(url: str, statement: str) -> None:
    """What someone with the database's owner rights can do: lift the append-only trigger, write."""
    engine = create_sync_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            else:
                conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
                conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            conn.execute(text(statement))
    finally:
        engine.dispose()


async def test_every_row_written_by_the_service_is_chained_and_verifies(
    make_service: ServiceFactory, clock: FakeClock, migrated_database_url: str
) -> None:
    await _activity(make_service, clock)
    report = verify_database(migrated_database_url)
    assert report.ok
    assert report.verified.rows == report.recorded.rows if report.recorded else False
    assert report.verified.rows == 15  # requested, approval, approved, claimed, vro_accepted x 3


async def test_verify_exits_zero_on_an_intact_chain(
    make_service: ServiceFactory,
    clock: FakeClock,
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _activity(make_service, clock, requests=1)
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    assert cli.main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("Audit chain intact: 5 rows, head row 5, hash ")


async def test_verify_names_a_row_edited_in_the_database(
    make_service: ServiceFactory,
    clock: FakeClock,
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _activity(make_service, clock)
    _tamper(migrated_database_url, "UPDATE audit_log SET actor = 'UMALLORY' WHERE id = 7")
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    assert cli.main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Audit chain BROKEN at row 7: row 7 was edited")


async def test_verify_names_the_place_of_a_row_deleted_in_the_database(
    make_service: ServiceFactory,
    clock: FakeClock,
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _activity(make_service, clock)
    _tamper(migrated_database_url, "DELETE FROM audit_log WHERE id = 4")
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    assert cli.main(["audit", "verify"]) == 1
    assert capsys.readouterr().err.startswith(
        "Audit chain BROKEN at row 5: a row was deleted between row 3 and row 5"
    )


async def test_verify_notices_the_newest_rows_deleted(
    make_service: ServiceFactory, clock: FakeClock, migrated_database_url: str
) -> None:
    await _activity(make_service, clock)
    _tamper(migrated_database_url, "DELETE FROM audit_log WHERE id > 12")
    report = verify_database(migrated_database_url)
    assert report.finding is not None
    assert (report.finding.row_id, report.finding.damage) == (13, Damage.DELETED)


async def test_concurrent_writers_on_two_engines_never_fork_the_chain(
    migrated_database_url: str, clock: FakeClock
) -> None:
    """Two replicas (two engines, each with many sessions at once) append to one chain."""
    engines = [create_engine(migrated_database_url) for _ in range(2)]
    try:
        factories = [session_factory(engine) for engine in engines]

        async def write(sessions: async_sessionmaker[AsyncSession], writer: int, n: int) -> None:
            for i in range(n):
                async with sessions.begin() as session:
                    for part in range(2):  # two entries in one transaction stay adjacent
                        session.add(
                            AuditEntry(
                                at=clock.now(),
                                actor=f"replica-{writer}",
                                event="approval",
                                detail={"i": i, "part": part},
                            )
                        )

        await asyncio.gather(*(write(factories[w % 2], w, 5) for w in range(8)))
    finally:
        for engine in engines:
            await engine.dispose()
    report = verify_database(migrated_database_url)
    assert report.ok, report.finding
    assert report.verified.rows == 8 * 5 * 2


async def test_a_rolled_back_transaction_leaves_no_audit_row_and_no_head_move(
    db_sessions: async_sessionmaker[AsyncSession], clock: FakeClock, migrated_database_url: str
) -> None:
    async def fail_after_writing() -> None:
        async with db_sessions.begin() as session:
            session.add(AuditEntry(at=clock.now(), actor="U1", event="requested", detail={}))
            await session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_after_writing()
    async with db_sessions.begin() as session:
        session.add(AuditEntry(at=clock.now(), actor="U2", event="requested", detail={}))
    report = verify_database(migrated_database_url)
    assert report.ok
    assert report.verified.rows == 1


async def test_the_monitor_checks_new_rows_and_notices_later_tampering_on_a_full_pass(
    make_service: ServiceFactory,
    clock: FakeClock,
    db_sessions: async_sessionmaker[AsyncSession],
    migrated_database_url: str,
) -> None:
    monitor = ChainMonitor(sessions=db_sessions, clock=clock, full_pass_seconds=600)
    await _activity(make_service, clock, requests=1)
    first = await monitor.check()
    assert first.ok
    assert first.verified.rows == 5
    await _activity(make_service, clock, requests=1)
    assert (await monitor.check()).verified.rows == 10
    _tamper(migrated_database_url, "UPDATE audit_log SET actor = 'UMALLORY' WHERE id = 2")
    assert (await monitor.check()).ok  # incremental: the old rows are not read again yet
    clock.advance(601)
    broken = await monitor.check()
    assert broken.finding is not None
    assert broken.finding.row_id == 2


def test_existing_rows_are_chained_by_the_migration(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "0004_audit_chain-1")  # just before the chain existed
    engine = create_sync_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            for i in range(3):
                conn.execute(
                    text(
                        "INSERT INTO audit_log (at, actor, event, detail) "
                        "VALUES (:at, :actor, 'requested', :detail)"
                    ),
                    {"at": AT, "actor": f"U{i}", "detail": json.dumps({"i": i})},
                )
    finally:
        engine.dispose()
    upgrade(database_url)
    report = verify_database(database_url)
    assert report.ok
    assert report.verified.rows == 3


async def test_export_carries_the_hashes_and_ends_with_the_chain_head(
    make_service: ServiceFactory,
    clock: FakeClock,
    migrated_database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _activity(make_service, clock, requests=1)
    out = tmp_path / "audit.jsonl"
    assert export_audit(migrated_database_url, since=None, fmt="jsonl", output=str(out)) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    records, last = lines[:-1], lines[-1]
    assert records[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))
    assert last == {"chain_head": {"id": records[-1]["id"], "hash": records[-1]["hash"], "rows": 5}}
    assert f"Chain head: row {records[-1]['id']} of 5, hash {records[-1]['hash']}." in capsys.readouterr().err


async def test_a_long_walk_is_spread_over_several_checks_and_reports_when_complete(
    make_service: ServiceFactory,
    clock: FakeClock,
    db_sessions: async_sessionmaker[AsyncSession],
    migrated_database_url: str,
) -> None:
    await _activity(make_service, clock, requests=2)  # 10 rows
    monitor = ChainMonitor(sessions=db_sessions, clock=clock, rows_per_check=4)
    assert monitor.last is None
    await monitor.check()  # rows 1-4
    await monitor.check()  # rows 5-8
    assert monitor.last is None  # no walk completed yet
    done = await monitor.check()  # rows 9-10, and the head
    assert done.ok
    assert done.verified.rows == 10
    assert monitor.last == done

    _tamper(migrated_database_url, "DELETE FROM audit_log WHERE id = 6")
    clock.advance(601)
    for _ in range(3):
        report = await monitor.check()
    assert report.finding is not None
    assert (report.finding.row_id, report.finding.damage) == (7, Damage.DELETED)
