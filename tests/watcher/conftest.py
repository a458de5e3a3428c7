"""The whole watch pipeline on a fake clock: simulator + VRO client + watcher + outbox + sandbox Slack.

Nothing is faked below the transports: the VRO client talks HTTP to the simulator through
``httpx.ASGITransport``, the outbox talks to the sandbox Slack over loopback with slack_sdk.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.outbox.sender import OutboxSender
from bot.outbox.slack_poster import SlackWebPoster
from bot.outbox.tables import OutboxMessage
from bot.sandbox.models import Message as SlackMessage
from bot.sandbox.server import RunningSandbox, create_sandbox, serve_sandbox
from bot.simulator.app import Simulator, create_simulator
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.watcher.service import Watcher, WatcherConfig
from bot.watcher.source import RuntimeSource
from bot.watcher.tables import Watch

CHANNEL = "C0DR"
ANNOUNCE = "C0ANNOUNCE"
TEST_CONFIG = WatcherConfig(poll_seconds=5, poll_max_seconds=30, batch_seconds=10, card_interval=5)


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[RunningSandbox]:
    sandbox = create_sandbox(clock=clock, channels={CHANNEL: "dr-ops", ANNOUNCE: "dr-announce"})
    with serve_sandbox(sandbox) as running:
        yield running


@dataclass
class Stack:
    clock: FakeClock
    sim: Simulator
    vro: VroClient
    sessions: async_sessionmaker[AsyncSession]
    slack: RunningSandbox
    poster: SlackWebPoster
    sender: OutboxSender
    watcher: Watcher
    extra: list[VroClient] = field(default_factory=list)

    def new_watcher(
        self,
        *,
        owner: str | None = None,
        config: WatcherConfig = TEST_CONFIG,
        source: RuntimeSource | None = None,
        **kw: Any,
    ) -> Watcher:
        return Watcher(
            session_factory=self.sessions,
            source=source or self.vro,
            clock=self.clock,
            config=config,
            owner=owner,
            on_outbox=self.sender.wake,
            **kw,
        )

    async def tick(self, seconds: float = 5.0, watcher: Watcher | None = None) -> None:
        """Let ``seconds`` pass, then one watcher cycle and one outbox pass."""
        self.clock.advance(seconds)
        await (watcher or self.watcher).poll_once()
        await self.sender.send_due()

    async def row(self, watch_id: int) -> Watch:
        async with self.sessions() as session:
            found = await session.get(Watch, watch_id)
            assert found is not None
            return found

    async def until(
        self,
        watch_id: int,
        status: str = "finished",
        *,
        max_seconds: float = 7200,
        watcher: Watcher | None = None,
    ) -> None:
        waited = 0.0
        while (await self.row(watch_id)).status != status:
            assert waited < max_seconds, f"watch {watch_id} not {status} after {max_seconds}s"
            await self.tick(5.0, watcher)
            waited += 5.0

    async def root_ts(self, watch_id: int) -> str:
        async with self.sessions() as session:
            card = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.key == f"watch:{watch_id}:card")
            )
        assert card is not None
        assert card.ts is not None
        return card.ts

    async def thread(self, watch_id: int, channel: str = CHANNEL) -> list[SlackMessage]:
        """The replies under the watch's status card, oldest first."""
        return self.slack.sandbox.workspace.thread(channel, await self.root_ts(watch_id))


def message_text(message: SlackMessage) -> str:
    """Everything a reader sees in a message: its section and context texts."""
    parts: list[str] = []
    for block in message.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for element in block.get("elements", ()) or ():
            if isinstance(element, dict) and element.get("type") == "mrkdwn":
                parts.append(str(element.get("text", "")))
    return "\n".join(parts) or message.text


def vm_tokens(messages: list[SlackMessage]) -> dict[str, list[str]]:
    """VM name -> every token of its compact lines, across the thread, in order."""
    tokens: dict[str, list[str]] = {}
    for message in messages:
        for line in message_text(message).splitlines():
            match = re.match(r"^\*(.+?)\*: (.*)$", line)
            if match:
                tokens.setdefault(match.group(1), []).extend(match.group(2).split(" · "))
    return tokens


def stack_on(
    vro: VroClient,
    sim: Simulator,
    *,
    clock: FakeClock,
    sessions: async_sessionmaker[AsyncSession],
    slack: RunningSandbox,
) -> Stack:
    """A watcher (``w1``) and an outbox sending to the sandbox, reading VRO through ``vro``."""
    poster = SlackWebPoster.from_token("xoxb-test", base_url=slack.api_url)
    sender = OutboxSender(session_factory=sessions, poster=poster, clock=clock)
    watcher = Watcher(
        session_factory=sessions,
        source=vro,
        clock=clock,
        config=TEST_CONFIG,
        owner="w1",
        on_outbox=sender.wake,
    )
    return Stack(clock, sim, vro, sessions, slack, poster, sender, watcher)


@pytest.fixture
async def stack(
    clock: FakeClock, db_sessions: async_sessionmaker[AsyncSession], slack: RunningSandbox
) -> AsyncIterator[Stack]:
    sim = create_simulator(clock=clock)
    vro = VroClient(
        base_url="http://vro.test",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
        retry=RetryPolicy(attempts=1),
    )
    built = stack_on(vro, sim, clock=clock, sessions=db_sessions, slack=slack)
    try:
        yield built
    finally:
        await vro.aclose()
        for extra in built.extra:
            await extra.aclose()
