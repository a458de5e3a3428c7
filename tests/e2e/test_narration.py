"""The watcher narrates a run in the approval card's thread, halts offer Continue, summaries land."""

from __future__ import annotations

import json
from typing import Any

from bot.sandbox.models import Message
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, Stack


def approve_button(message: Message) -> dict[str, Any]:
    return next(
        e for b in message.blocks for e in b.get("elements", []) if e.get("action_id") == "vro_approve"
    )


async def approve_latest_card(stack: Stack, user: str) -> Message:
    card = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")[-1]
    await stack.driver.click(user_id=user, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve")
    await stack.settle()
    return card


async def run_until_stable(stack: Stack, plan: str, *, limit: int = 400) -> None:
    plan_id = stack.sim.plan_id(plan)
    for _ in range(limit):
        stack.fake_clock.advance(5)
        await stack.pump()
        runtime = await stack.bot.vro.get_plan_runtime(plan_id)
        if not runtime.isRunningState and await stack.bot.sender.pending_count() == 0:
            return
    raise AssertionError(f"{plan} did not settle")


def thread_text(stack: Stack, parent_ts: str) -> str:
    return "\n".join(
        m.text + json.dumps(m.blocks) for m in stack.sandbox.workspace.thread(CHANNEL, parent_ts)
    )


async def test_a_failover_is_narrated_step_by_step_with_a_summary(stack: Stack) -> None:
    await stack.driver.command('failover "SAP Tier1" --reason "INC-1"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    await approve_latest_card(stack, LEAD1)
    card = await approve_latest_card(stack, LEAD2)
    await run_until_stable(stack, "SAP Tier1")
    # A few more cycles: the finished watch must not post anything again.
    for _ in range(5):
        stack.fake_clock.advance(60)
        await stack.pump()

    text = thread_text(stack, card.ts)
    plan = stack.sim.plan("SAP Tier1")
    for group in plan.spec.groups:
        assert group.name in text
    for vm in (vm for group in plan.spec.groups for vm in group.vms):
        assert vm.name in text
    assert "approved by" in text
    summaries = [m for m in stack.sandbox.workspace.thread(CHANNEL, card.ts) if "finished" in m.text]
    assert len(summaries) == 1, [m.text for m in summaries]
    # The summary is also shown in the channel.
    assert any("finished" in t for t in stack.top_level())


async def test_a_halted_restore_offers_continue_and_the_choice_goes_through_approval(stack: Stack) -> None:
    await stack.driver.command('restore "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    card = await approve_latest_card(stack, LEAD1)
    await run_until_stable(stack, "Payroll Restore")
    runtime = await stack.bot.vro.get_plan_runtime(stack.sim.plan_id("Payroll Restore"))
    assert runtime.state == "Halted"

    halt = next(
        m
        for m in stack.sandbox.workspace.thread(CHANNEL, card.ts)
        if "vro_action:continue:" in json.dumps(m.blocks)
    )
    retry = next(
        e
        for b in halt.blocks
        for e in b.get("elements", [])
        if str(e.get("action_id", "")).endswith(":RetryFailedStep")
    )
    # An approver is not an operator: asking to continue is refused, politely.
    await stack.driver.click(
        user_id=LEAD2,
        channel_id=CHANNEL,
        message_ts=halt.ts,
        action_id=retry["action_id"],
        value=retry["value"],
    )
    await stack.settle()
    assert any("operator role" in t for t in stack.ephemerals(LEAD2))
    # The operator asks; the choice becomes an approval card like any other action.
    await stack.driver.click(
        user_id=OPERATOR,
        channel_id=CHANNEL,
        message_ts=halt.ts,
        action_id=retry["action_id"],
        value=retry["value"],
    )
    await stack.settle()
    continue_card = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")[-1]
    assert "continue" in continue_card.text.lower()
    await approve_latest_card(stack, LEAD1)
    posts = [r for r in stack.sim.requests if r.method == "POST" and r.path.lower().endswith("/continue")]
    assert len(posts) == 1
    await run_until_stable(stack, "Payroll Restore")
    runtime = await stack.bot.vro.get_plan_runtime(stack.sim.plan_id("Payroll Restore"))
    assert runtime.state == "RestoreComplete"
