"""The guardrails through the sandbox: the readiness gate and its button, approvals from two groups."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.approvals.policy import Policy
from bot.approvals.report import run_report
from bot.clock import FakeClock
from bot.offline import offline_stack
from bot.sandbox.models import Message
from bot.slack.blocks.approvals import RUN_CHECK_LABEL
from bot.slack.blocks.kit import ActionId, plan_action_id
from bot.watcher.service import WatcherConfig
from tests.e2e.conftest import CHANNEL, OPERATOR, Stack
from tests.e2e.test_narration import run_until_stable

LEAD = "U0LEAD1"
OWNER = "U0OWNER1"
BOTH = "U0BOTH1"
PLAN = "SAP Tier1"
RESTORE_PLAN = "Payroll Restore"
START = datetime(2020, 1, 1, tzinfo=UTC)

POLICY = f"""
channels: [{CHANNEL}]
roles:
  viewer:    {{users: ["*"]}}
  operator:  {{users: [{OPERATOR}]}}
  dr_lead:   {{users: [{LEAD}, {BOTH}]}}
  app_owner: {{users: [{OWNER}, {BOTH}]}}
defaults: {{role: operator, approvals: 1, approver_role: dr_lead}}
actions:
  failover:
    approvals: {{all_of: [{{role: dr_lead, count: 1}}, {{role: app_owner, count: 1}}]}}
    require_check: {{max_age_hours: 24}}
  restore:
    require_check: {{max_age_hours: 24, mode: warn}}
  check: {{approvals: 0}}
plans:
  "{PLAN}": {{rto_minutes: 30}}
"""


@pytest.fixture
async def stack(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(POLICY),
        users={OPERATOR: "olivia", LEAD: "lee", OWNER: "owen", BOTH: "bea"},
        channels={CHANNEL: "dr-war-room"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        instance_id="e2e-guardrails",
    ) as offline:
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})


async def _check_passes(stack: Stack) -> None:
    await stack.driver.command(f'check "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    await run_until_stable(stack, PLAN)
    plan = await stack.bot.vro.get_plan(stack.sim.plan_id(PLAN))
    assert plan.currentCheckResult in ("Success", "Warning")
    assert plan.lastCheckTime is not None


def _card(stack: Stack) -> Message:
    return stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE)[-1]


async def _approve(stack: Stack, user: str) -> None:
    card = _card(stack)
    await stack.driver.click(user_id=user, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.APPROVE)
    await stack.settle()


async def test_a_failover_refused_by_a_stale_check_is_unblocked_by_the_check_run_from_the_answer(
    stack: Stack,
) -> None:
    await _check_passes(stack)
    stack.fake_clock.advance(25 * 3600)  # the passed check is now older than the 24 hours allowed

    await stack.driver.command(f'failover "{PLAN}" --reason "INC-9"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE) == []
    refusal = stack.sandbox.workspace.ephemerals_for(CHANNEL, OPERATOR)[-1]
    assert "longer ago than the 24 hours this action allows" in refusal.text
    assert RUN_CHECK_LABEL in json.dumps(refusal.blocks)

    await stack.driver.click(
        user_id=OPERATOR,
        channel_id=CHANNEL,
        message_ts=refusal.ts,
        action_id=plan_action_id("check"),
        ephemeral=True,
    )
    await stack.settle()
    await run_until_stable(stack, PLAN)

    await stack.driver.command(f'failover "{PLAN}" --reason "INC-9"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    card = _card(stack)
    assert "failover" in card.text.lower()
    assert "dr_lead" in json.dumps(card.blocks)


async def test_a_person_holding_both_roles_counts_once_and_a_lead_completes_the_two_groups(
    stack: Stack, tmp_path: Path
) -> None:
    await _check_passes(stack)
    await stack.driver.command(f'failover "{PLAN}" --reason "INC-10"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    card = json.dumps(_card(stack).blocks)
    assert "one person counts once" in card
    assert "dr_lead" in card
    assert "app_owner" in card

    await _approve(stack, BOTH)
    after_both = json.dumps(_card(stack).blocks)
    assert "Waiting for 1 more approval from dr_lead or app_owner" in after_both
    assert stack.sim.plan(PLAN).state == "Ready"  # nothing sent yet

    await _approve(stack, BOTH)  # a second click by the same person changes nothing
    assert stack.sim.plan(PLAN).state == "Ready"

    await _approve(stack, LEAD)
    done = stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE)
    assert done == []  # the card lost its buttons: the request is no longer open
    runtime = await stack.bot.vro.get_plan_runtime(stack.sim.plan_id(PLAN))
    assert runtime.state != "Ready"  # VRO got the failover

    # The summary measures the run against the plan's RTO; the report lists it with the people.
    await run_until_stable(stack, PLAN)
    summary = next(
        m
        for m in stack.sandbox.workspace.top_level(CHANNEL)
        if m.text.startswith("Failover of SAP Tier1 finished")
    )
    assert "RTO 30m 00s: *" in json.dumps(summary.blocks, ensure_ascii=False)
    out = tmp_path / "report.csv"
    assert run_report(f"sqlite:///{tmp_path / 'bot.db'}", since=START, fmt="csv", output=str(out)) == 0
    rows = [
        r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))) if r["action"] == "Failover"
    ]
    assert len(rows) == 1
    (row,) = rows
    assert (row["plan"], row["requested_by"]) == (PLAN, OPERATOR)
    assert set(row["approved_by"].split()) == {BOTH, LEAD}
    assert row["rto_minutes"] == "30"
    assert row["rto_met"] in ("yes", "no")
    assert int(row["duration_seconds"]) > 0


async def test_warn_mode_puts_a_prominent_warning_and_the_check_button_on_the_card(stack: Stack) -> None:
    await stack.driver.command(f'restore "{RESTORE_PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    card = _card(stack)
    blocks = json.dumps(card.blocks)
    assert "Readiness not proven." in blocks
    assert "No readiness check has run on this plan." in blocks
    assert RUN_CHECK_LABEL in blocks

    # The card's own button asks for the check; once it passes, the warning leaves the card.
    await stack.driver.click(
        user_id=OPERATOR, channel_id=CHANNEL, message_ts=card.ts, action_id=plan_action_id("check")
    )
    await stack.settle()
    await run_until_stable(stack, RESTORE_PLAN)
    await stack.bot.sender.send_due()
    redrawn = stack.sandbox.workspace.message(CHANNEL, card.ts)
    assert "Readiness not proven." not in json.dumps(redrawn.blocks)
    assert RUN_CHECK_LABEL not in json.dumps(redrawn.blocks)
    assert "vro_approve" in json.dumps(redrawn.blocks)  # still open for its approvals


async def test_the_audit_chain_of_a_real_flow_names_an_edited_and_a_deleted_row(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main
    from tests.approvals.test_audit_chain import _tamper

    await _check_passes(stack)
    await stack.driver.command(f'failover "{PLAN}" --reason "INC-11"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    await _approve(stack, OPERATOR)  # refused: audited too
    await _approve(stack, BOTH)
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("Audit chain intact:")

    _tamper(url, "UPDATE audit_log SET actor = 'U0MALLORY' WHERE id = 4")
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().err.startswith("Audit chain BROKEN at row 4: row 4 was edited")

    _tamper(url, "DELETE FROM audit_log WHERE id = 4")  # hiding the edit by removing the row shows too
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().err.startswith(
        "Audit chain BROKEN at row 5: a row was deleted between row 3 and row 5"
    )


async def test_the_home_tab_offers_a_two_group_request_to_holders_of_either_role(stack: Stack) -> None:
    from tests.e2e.test_modal_home import decidable_on_home

    await _check_passes(stack)
    await stack.driver.command(f'failover "{PLAN}" --reason "INC-12"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    for user in (LEAD, OWNER, BOTH, OPERATOR):
        await stack.driver.app_home_opened(user_id=user)
    await stack.settle()
    (request_id,) = decidable_on_home(stack, LEAD)
    assert decidable_on_home(stack, OWNER) == [request_id]
    assert decidable_on_home(stack, BOTH) == [request_id]
    assert decidable_on_home(stack, OPERATOR) == []
