"""The whole bot, end to end, with nothing real behind it.

Signed requests go through the real ASGI app (``httpx.ASGITransport``); the VRO client talks
to the simulator through ``httpx.ASGITransport`` (no sockets); every Slack Web API call and
``response_url`` goes to the sandbox on loopback (slack_sdk uses aiohttp, which needs a
socket). Time is a FakeClock for the bot and the simulator; signatures use the real time,
because Bolt checks them against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.approvals.policy import Policy
from bot.clock import FakeClock, SystemClock
from bot.config import load_settings
from bot.migrate import upgrade
from bot.runtime import Bot, build_bot
from bot.sandbox.driver import SlackDriver
from bot.sandbox.server import RunningSandbox, SlackSandbox, create_sandbox, serve_sandbox
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator, create_simulator
from bot.watcher.service import WatcherConfig

SIGNING_SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-e2e-token"
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
class Stack:
    clock: FakeClock
    sim: Simulator
    sandbox: SlackSandbox
    bot: Bot
    driver: SlackDriver

    async def settle(self) -> None:
        """Wait for the work the listeners started after their ack."""
        await self.bot.work.drain()

    async def pump(self) -> None:
        """One watcher cycle, then send what it wrote to the outbox."""
        await self.bot.watcher.poll_once()
        await self.bot.sender.send_due()

    def ephemerals(self, user: str, channel: str = CHANNEL) -> list[str]:
        return [m.text for m in self.sandbox.workspace.ephemerals_for(channel, user)]

    def top_level(self, channel: str = CHANNEL) -> list[str]:
        return [m.text for m in self.sandbox.workspace.top_level(channel)]


@pytest.fixture
def running_sandbox(clock: FakeClock) -> Iterator[RunningSandbox]:
    sandbox = create_sandbox(
        clock=clock,
        users={
            OPERATOR: "olivia",
            LEAD1: "lee",
            LEAD2: "priya",
            VIEWER: "sam",
            OUTSIDER: "otto",
        },
        channels={CHANNEL: "dr-war-room", OTHER_CHANNEL: "random"},
        tokens=frozenset({BOT_TOKEN}),
    )
    with serve_sandbox(sandbox) as running:
        yield running


@pytest.fixture
async def stack(tmp_path: Path, clock: FakeClock, running_sandbox: RunningSandbox) -> AsyncIterator[Stack]:
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(database_url)
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": running_sandbox.api_url,
            "VRO_URL": "http://vro.simulator",
            "VRO_USERNAME": DEFAULT_USERNAME,
            "VRO_PASSWORD": DEFAULT_PASSWORD,
            "DATABASE_URL": database_url,
        }
    )
    sim = create_simulator(clock=clock)
    bot = await build_bot(
        settings,
        clock=clock,
        vro_transport=httpx.ASGITransport(app=sim),
        policy=Policy.from_yaml(POLICY),
        instance_id="e2e",
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        slack_retries=False,
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=bot.http), base_url="http://bot.test")
    driver = SlackDriver(
        http=http, signing_secret=SIGNING_SECRET, clock=SystemClock(), sandbox=running_sandbox.sandbox
    )
    try:
        yield Stack(clock=clock, sim=sim, sandbox=running_sandbox.sandbox, bot=bot, driver=driver)
    finally:
        await bot.work.drain()
        await http.aclose()
        await bot.aclose()
