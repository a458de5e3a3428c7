"""``vro-bot audit export``: JSON lines and CSV, filtered by time."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest

from bot import cli
from bot.approvals.export import export_audit
from bot.approvals.ports import AuditEvent
from bot.clock import FakeClock
from bot.config import load_settings
from bot.vro.actions import PlanAction
from tests.approvals.conftest import PLAN_ID, PLAN_NAME, ServiceFactory, ready_plan


async def _history(make_service: ServiceFactory, clock: FakeClock) -> str:
    """A request made at 12:00 and approved (and executed) at 12:20."""
    service = make_service()
    outcome = await service.request(
        requester="U0REQ",
        verb="failover",
        action=PlanAction.FAILOVER,
        plan=ready_plan(),
        params={},
        reason="INC-42 «site A»",
        channel="C0INC",
    )
    assert outcome.request is not None
    clock.advance(20 * 60)
    await service.approve(outcome.request.id, "U0LEAD1")
    return outcome.request.id


async def test_export_writes_every_entry_as_json_lines(
    make_service: ServiceFactory, clock: FakeClock, migrated_database_url: str, tmp_path: Path
) -> None:
    request_id = await _history(make_service, clock)
    out = tmp_path / "audit.jsonl"
    settings = load_settings({"DATABASE_URL": migrated_database_url})
    assert export_audit(settings.database_url, since=None, fmt="jsonl", output=str(out)) == 0
    *records, head = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert head["chain_head"]["hash"] == records[-1]["hash"]
    assert [r["event"] for r in records] == [
        AuditEvent.REQUESTED,
        AuditEvent.APPROVAL,
        AuditEvent.APPROVED,
        AuditEvent.CLAIMED,
        AuditEvent.VRO_ACCEPTED,
    ]
    first = records[0]
    assert (first["actor"], first["request_id"], first["plan_id"], first["plan_name"]) == (
        "U0REQ",
        request_id,
        PLAN_ID,
        PLAN_NAME,
    )
    assert first["at"] == "2026-01-01T12:00:00+00:00"
    assert first["detail"]["reason"] == "INC-42 «site A»"


async def test_export_since_keeps_later_entries_as_csv_reading_a_naive_time_as_utc(
    make_service: ServiceFactory, clock: FakeClock, migrated_database_url: str, tmp_path: Path
) -> None:
    await _history(make_service, clock)
    out = tmp_path / "audit.csv"
    settings = load_settings({"DATABASE_URL": migrated_database_url})
    assert (
        export_audit(
            settings.database_url,
            since=datetime.fromisoformat("2026-01-01T12:10"),
            fmt="csv",
            output=str(out),
        )
        == 0
    )
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["event"] for r in rows] == ["approval", "approved", "claimed", "vro_accepted"]
    assert rows[0]["actor"] == "U0LEAD1"
    assert json.loads(rows[0]["detail"])["approvals"] == 1


def test_cli_audit_export_to_stdout(
    migrated_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    assert cli.main(["audit", "export", "--since", "2026-01-01", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "id,at,actor,event,request_id,plan_id,plan_name,detail,prev_hash,hash,actor_team"
    ]
    assert captured.err == "Exported 0 audit entries to stdout.\n"


def test_export_from_a_database_without_schema_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'missing.db'}"})
    assert export_audit(settings.database_url, since=None, fmt="jsonl", output="-") == 1
    assert "there is no database at" in capsys.readouterr().err
    assert not (tmp_path / "missing.db").exists()  # not created by looking

    empty = tmp_path / "empty.db"
    empty.touch()
    settings = load_settings({"DATABASE_URL": f"sqlite:///{empty}"})
    assert export_audit(settings.database_url, since=None, fmt="jsonl", output="-") == 1
    assert "Run `vro-bot db upgrade`" in capsys.readouterr().err
