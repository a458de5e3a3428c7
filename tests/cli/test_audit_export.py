"""``vro-bot audit export``: the audit trail of a real approval flow, as JSON lines and as CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from bot.approvals.export import FIELDS
from bot.approvals.policy import Policy
from bot.cli import main
from bot.clock import FakeClock
from bot.offline import offline_stack
from bot.slack.blocks.kit import ActionId
from tests.cli.conftest import SetEnv
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, POLICY

REASON = "INC-42 site A lost"
INSTANCE = "cli-audit"
EXPECTED_EVENTS = [
    ("requested", OPERATOR),
    ("decision_refused", OPERATOR),  # the requester's own click
    ("approval", LEAD1),
    ("approval", LEAD2),
    ("approved", LEAD2),
    ("claimed", LEAD2),  # the last approval sends it
    ("vro_accepted", INSTANCE),  # recorded by the bot instance that sent it
]


async def approved_failover(database_url: str, clock: FakeClock) -> str:
    """Request a failover, click Approve as the requester and both approvers; the request id."""
    async with offline_stack(
        database_url=database_url,
        clock=clock,
        policy=Policy.from_yaml(POLICY),
        users={OPERATOR: "olivia", LEAD1: "lee", LEAD2: "priya"},
        channels={CHANNEL: "dr-war-room"},
        instance_id=INSTANCE,
    ) as stack:
        await stack.driver.command(
            f'failover "SAP Tier1" --reason "{REASON}"', user_id=OPERATOR, channel_id=CHANNEL
        )
        await stack.settle()
        card = stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE)[-1]
        button = next(
            e for b in card.blocks for e in b.get("elements", []) if e.get("action_id") == ActionId.APPROVE
        )
        for user in (OPERATOR, LEAD1, LEAD2):
            await stack.driver.click(
                user_id=user, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.APPROVE
            )
            await stack.settle()
        return str(button["value"])


@pytest.fixture
async def audited(tmp_path: Path, clock: FakeClock, cli_env: SetEnv) -> str:
    """A database holding one executed failover; DATABASE_URL points at it. Returns the request id."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    request_id = await approved_failover(url, clock)
    cli_env({"DATABASE_URL": url})
    return request_id


def events_of(records: list[dict[str, Any]], request_id: str) -> list[tuple[str, str]]:
    return [(r["event"], r["actor"]) for r in records if r["request_id"] == request_id]


async def test_jsonl_export_holds_every_step_of_the_approval_flow(
    audited: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "export", "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    *records, head = [json.loads(line) for line in captured.out.splitlines()]
    assert head == {
        "chain_head": {"id": records[-1]["id"], "hash": records[-1]["hash"], "rows": len(records)}
    }
    assert [list(r) for r in records] == [list(FIELDS)] * len(records)
    assert events_of(records, audited) == EXPECTED_EVENTS
    requested = records[0]
    assert requested["plan_name"] == "SAP Tier1"
    assert REASON in json.dumps(requested["detail"])
    assert f"Exported {len(records)} audit entries" in captured.err


async def test_csv_export_has_a_header_and_the_same_rows_as_jsonl(
    audited: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "export", "--format", "jsonl"]) == 0
    *records, _head = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["audit", "export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))

    assert rows
    assert list(rows[0]) == list(FIELDS)
    assert events_of([dict(r) for r in rows], audited) == EXPECTED_EVENTS
    assert [(int(r["id"]), r["at"], json.loads(r["detail"])) for r in rows] == [
        (r["id"], r["at"], r["detail"]) for r in records
    ]


async def test_export_writes_a_file_and_honours_since(
    audited: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "audit.csv"
    assert main(["audit", "export", "--format", "csv", "--output", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert len(list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))) == len(EXPECTED_EVENTS)

    assert main(["audit", "export", "--since", "2026-01-02"]) == 0  # the flow ran on 2026-01-01
    captured = capsys.readouterr()
    assert [list(json.loads(line)) for line in captured.out.splitlines()] == [["chain_head"]]
    assert "Exported 0 audit entries" in captured.err


async def test_since_accepts_natural_dates_and_explains_a_bad_one(
    audited: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The flow ran on 2026-01-01 (the fake clock), long before "yesterday" on the real one.
    assert main(["audit", "export", "--since", "yesterday"]) == 0
    assert "Exported 0 audit entries" in capsys.readouterr().err

    with pytest.raises(SystemExit) as stopped:
        main(["audit", "export", "--since", "whenever"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --since: 'whenever' is not a date I know" in err
    assert "yesterday" in err
