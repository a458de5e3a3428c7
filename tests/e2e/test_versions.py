"""The bot speaks the VRO it finds: a command the server's version lacks is refused by name,
before any card; the same command works where VRO has it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path

import pytest

from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.offline import offline_stack
from bot.simulator import SimulatorConfig
from bot.vro.operations import RELEASE_VERSIONS
from bot.watcher.service import WatcherConfig
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, OTHER_CHANNEL, OUTSIDER, POLICY, VIEWER, Stack

RESTORE_PLAN = "Finance DB Restore"


@pytest.fixture
async def vro_7_2_1(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(POLICY),
        users={OPERATOR: "olivia", LEAD1: "lee", LEAD2: "priya", VIEWER: "sam", OUTSIDER: "otto"},
        channels={CHANNEL: "dr-war-room", OTHER_CHANNEL: "random"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        simulator_config=SimulatorConfig(api_versions=RELEASE_VERSIONS["v7.21"]),
        instance_id="e2e-7.2.1",
    ) as offline:
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})


async def test_scan_on_vro_7_2_1_says_it_is_not_available_and_posts_no_card(vro_7_2_1: Stack) -> None:
    await vro_7_2_1.driver.command(
        f'scan "{RESTORE_PLAN}" --reason "INC-7"', user_id=OPERATOR, channel_id=CHANNEL
    )
    await vro_7_2_1.settle()
    said = " ".join(vro_7_2_1.ephemerals(OPERATOR))
    assert "Malware scan is not available on VRO 7.2.1 (REST API v7.21): it needs VRO 13 or later." in said
    assert "Nothing was sent." in said
    assert vro_7_2_1.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []
    assert not [r for r in vro_7_2_1.sim.requests if r.path.endswith("/MalwareScan")]


async def test_clear_log_on_vro_13_2_says_vro_removed_it(stack: Stack) -> None:
    await stack.driver.command('clear-log "SAP Tier1" --reason "tidy"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    said = " ".join(stack.ephemerals(OPERATOR))
    assert "Clear change log is not available on VRO 13.2 (REST API v13.2): VRO removed it in VRO 13." in said
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []


async def test_scan_on_vro_13_2_asks_for_approval_as_any_action(stack: Stack) -> None:
    await stack.driver.command(
        f'scan "{RESTORE_PLAN}" --reason "INC-7"', user_id=OPERATOR, channel_id=CHANNEL
    )
    await stack.settle()
    cards = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")
    assert len(cards) == 1
    assert "malware scan" in cards[0].text.lower()
