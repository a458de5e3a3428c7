"""The whole bot, end to end, with nothing real behind it.

Signed requests go through the real ASGI app (``httpx.ASGITransport``); the VRO client talks
to the simulator through ``httpx.ASGITransport`` (no sockets); every Slack Web API call and
``response_url`` goes to the sandbox on loopback (slack_sdk uses aiohttp, which needs a
socket). Time is a FakeClock for the bot and the simulator; signatures use the real time,
because Bolt checks them against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.offline import OfflineStack, offline_stack
from bot.watcher.service import WatcherConfig

CHANNEL = "C0DRROOM"
OTHER_CHANNEL = "C0RANDOM"
OPERATOR = "U0OPS1"
LEAD1 = "U0LEAD1"
LEAD2 = "U0LEAD2"
VIEWER = "U0VIEW1"
OUTSIDER = "U0OUTSIDER"

POLICY = f"""
channels: [{CHANNEL}]
roles:
  viewer:   {{users: ["*"]}}
  operator: {{users: [{OPERATOR}]}}
  approver: {{users: [{LEAD1}, {LEAD2}], groups: [dr-approvers]}}
defaults: {{role: operator, approvals: 1, approver_role: approver, ttl_minutes: 30, reason_required: false}}
actions:
  failover: {{approvals: 2, reason_required: true}}
  check:    {{approvals: 0}}
  enable:   {{approvals: 0}}
"""


@dataclass
class Stack(OfflineStack):
    """The offline stack plus a few readers for assertions."""

    @property
    def fake_clock(self) -> FakeClock:
        assert isinstance(self.clock, FakeClock)
        return self.clock

    def ephemerals(self, user: str, channel: str = CHANNEL) -> list[str]:
        return [m.text for m in self.sandbox.workspace.ephemerals_for(channel, user)]

    def top_level(self, channel: str = CHANNEL) -> list[str]:
        return [m.text for m in self.sandbox.workspace.top_level(channel)]


@pytest.fixture
async def stack(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(POLICY),
        users={OPERATOR: "olivia", LEAD1: "lee", LEAD2: "priya", VIEWER: "sam", OUTSIDER: "otto"},
        channels={CHANNEL: "dr-war-room", OTHER_CHANNEL: "random"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        instance_id="e2e",
    ) as offline:
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})
