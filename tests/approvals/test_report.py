"""``vro-bot report``: runs joined to their requests, in Markdown and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.approvals.report import build_runs, markdown, write_csv
from bot.approvals.tables import AuditEntry

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SINCE = datetime(2026, 12, 1, tzinfo=UTC)


def entry(event: str, actor: str, request_id: str | None, **detail: Any) -> AuditEntry:
    return AuditEntry(
        at=T0,
        actor=actor,
        event=event,
        request_id=request_id,
        plan_id="p1",
        plan_name="SAP Tier1",
        detail=detail,
    )


def history() -> tuple[list[AuditEntry], list[AuditEntry], list[AuditEntry]]:
    finished = [
        entry(
            "run_finished",
            "watch:1",
            "r1",
            action="Failover",
            started_at=T0.isoformat(),
            duration_seconds=42 * 60,
            rto_minutes=30,
            rto_met=False,
            result="Complete, no errors, 1 warning",
            warnings=1,
            errors=0,
        )
    ]
    accepted = [
        entry("vro_accepted", "bot-1", "r1", action="Failover"),
        entry("vro_accepted", "bot-1", "r2", action="Restore"),
    ]
    requests = [
        entry("requested", "U0OPS", "r1", readiness_warning=None),
        entry("approved", "U0LEAD", "r1", approvers=["U0LEAD", "U0OWNER"]),
        entry("requested", "U0OPS2", "r2", readiness_warning="No readiness check has run on this plan."),
    ]
    return finished, accepted, requests


def test_a_run_shows_who_asked_and_approved_its_duration_rto_result_and_warnings() -> None:
    runs = build_runs(*history(), since=SINCE)
    first, second = runs
    assert (first.requested_by, first.approved_by) == ("U0OPS", ("U0LEAD", "U0OWNER"))
    assert (first.duration_seconds, first.rto_minutes, first.rto_met) == (42 * 60, 30, False)
    assert first.warnings == ("1 warning in the run",)
    assert second.result == "not finished (no summary yet)"
    assert second.warnings == ("readiness: No readiness check has run on this plan.",)


def test_markdown_says_how_much_the_rto_was_missed_by() -> None:
    text = markdown(build_runs(*history(), since=SINCE), since=SINCE)
    assert "| SAP Tier1 | Failover | U0OPS | U0LEAD, U0OWNER | 2026-12-01 09:00 | 42m 00s |" in text
    assert "missed (30 min target, over by 12m 00s)" in text
    assert "2 runs; RTO met in 0 of 1 with a target." in text


def test_runs_that_started_before_since_are_left_out() -> None:
    finished, accepted, requests = history()
    later = SINCE + timedelta(days=1)
    assert build_runs(finished, accepted, requests, since=later) == []
    accepted[1].at = later  # the restore was accepted after "since": it shows, not finished yet
    assert [r.action for r in build_runs(finished, accepted, requests, since=later)] == ["Restore"]


def test_an_action_with_no_run_to_follow_is_not_listed_as_a_run_not_finished() -> None:
    # Enable, clone, schedule...: VRO accepts them but nothing runs, no summary ever comes, so
    # they stood in every report as "not finished (no summary yet)" for good.
    finished, accepted, requests = history()
    accepted += [
        entry("vro_accepted", "bot-1", f"r{n}", action=a) for n, a in enumerate(("Disable", "Clone"), 3)
    ]
    assert [r.action for r in build_runs(finished, accepted, requests, since=SINCE)] == [
        "Failover",
        "Restore",
    ]


def test_a_run_is_dated_by_the_bots_clock_even_when_vros_clock_is_months_behind() -> None:
    finished, accepted, requests = history()
    finished[0].detail = {**finished[0].detail, "started_at": (T0 - timedelta(days=83)).isoformat()}
    [run, _] = build_runs(finished, accepted, requests, since=SINCE)
    assert run.action == "Failover"
    assert run.started_at == T0  # when VRO accepted it, not VRO's own (wrong) start time


def test_a_watched_run_without_a_request_starts_its_duration_before_its_summary() -> None:
    finished, _, _ = history()
    finished[0].request_id = None
    finished[0].at = T0 + timedelta(minutes=42)
    [run] = build_runs(finished, [], [], since=SINCE)
    assert run.started_at == T0


def test_csv_has_one_row_per_run_with_the_stable_columns() -> None:
    out = io.StringIO()
    write_csv(build_runs(*history(), since=SINCE), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [
        "plan",
        "action",
        "requested_by",
        "approved_by",
        "started_at",
        "duration_seconds",
        "rto_minutes",
        "rto_met",
        "result",
        "warnings",
    ]
    assert (rows[0]["rto_met"], rows[0]["approved_by"]) == ("no", "U0LEAD U0OWNER")


def test_the_cli_reports_on_a_migrated_database(
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    assert cli.main(["report", "--since", "2026-12-01", "--format", "md"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# Runs since 2026-12-01 00:00 UTC")
    assert "No runs." in captured.out
    assert captured.err == "0 runs since 2026-12-01T00:00:00+00:00.\n"
