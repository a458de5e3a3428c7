"""Runs that are over before the watcher's first look, on a VRO whose clock is months off.

The simulator finishes every run the moment it starts (``instant_runs``) and its clock is
thousands of hours behind (or ahead of) the bot's (``clock_offset_hours``). Whether a run
happened is judged on VRO's own data against the baseline read before sending, so every action
still gets its summary, including a readiness check that ends in the state it started from.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path

import pytest

from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.offline import offline_stack
from bot.simulator.app import SimulatorConfig
from bot.watcher.service import WatcherConfig
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, POLICY, Stack

BEHIND = -24 * 150.0  # five months behind the bot
AHEAD = 24 * 40.0


async def fast_stack(tmp_path: Path, clock: FakeClock, offset: float) -> AsyncIterator[Stack]:
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(POLICY),
        users={OPERATOR: "olivia", LEAD1: "lee", LEAD2: "priya"},
        channels={CHANNEL: "dr-war-room"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        simulator_config=SimulatorConfig(instant_runs=True, clock_offset_hours=offset),
        instance_id="fast",
    ) as offline:
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})


@pytest.fixture(params=[BEHIND, AHEAD], ids=["vro-clock-behind", "vro-clock-ahead"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    async for built in fast_stack(tmp_path, clock, request.param):
        yield built


async def settle_watches(stack: Stack) -> None:
    for _ in range(10):
        stack.fake_clock.advance(5)
        await stack.pump()
    await stack.bot.sender.run_until_idle(max_seconds=120)


def summaries(stack: Stack, card_ts: str) -> list[str]:
    return [m.text for m in stack.sandbox.workspace.thread(CHANNEL, card_ts) if " finished: " in m.text]


async def test_an_instant_failover_on_a_vro_with_a_wrong_clock_gets_its_summary(stack: Stack) -> None:
    await stack.driver.command(
        'failover "Web Frontend" --reason "INC-7"', user_id=OPERATOR, channel_id=CHANNEL
    )
    await stack.settle()
    card = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")[-1]
    for lead in (LEAD1, LEAD2):
        await stack.driver.click(
            user_id=lead, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve"
        )
        await stack.settle()
    await settle_watches(stack)
    (summary,) = summaries(stack, card.ts)
    assert "Failover of Web Frontend finished" in summary
    assert await stack.bot.watcher.poll_once() == 0  # a finished watch costs VRO nothing


async def test_a_readiness_check_that_ends_where_it_started_is_reported_with_its_result(stack: Stack) -> None:
    plan = stack.sim.plan("Web Frontend")
    state_before = plan.state
    await stack.driver.command('check "Web Frontend"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    (card,) = [m for m in stack.sandbox.workspace.top_level(CHANNEL) if m.metadata]
    await settle_watches(stack)
    assert stack.sim.plan("Web Frontend").state == state_before  # back where it started
    (summary,) = summaries(stack, card.ts)
    assert "finished" in summary
    assert "Readiness check of Web Frontend finished" in summary
    assert " — " in summary.split("finished: ", 1)[1], summary  # VRO's state — VRO's result
