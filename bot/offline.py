"""The whole bot with nothing real behind it: the simulator as VRO, the sandbox as Slack.

Used by ``vro-bot demo``, by the end-to-end tests and by anyone who wants a dry run. The VRO
client reaches the simulator in-process (``httpx.ASGITransport``); Slack's clients reach the
sandbox on a loopback port (slack_sdk speaks aiohttp, which needs a socket); requests *from*
Slack are signed by the sandbox's driver and pushed through the bot's real ASGI app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from bot.approvals.policy import Policy
from bot.clock import Clock, SystemClock
from bot.config import Settings, load_settings
from bot.migrate import upgrade
from bot.runtime import Bot, build_bot
from bot.sandbox.driver import SlackDriver
from bot.sandbox.server import RunningSandbox, SlackSandbox, create_sandbox, serve_sandbox
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator, SimulatorConfig, create_simulator
from bot.simulator.estate import Estate
from bot.watcher.service import WatcherConfig

OFFLINE_SIGNING_SECRET = "offline-signing-secret"  # noqa: S105 - a local stand-in, never a real secret
OFFLINE_BOT_TOKEN = "xoxb-offline-sandbox"  # noqa: S105 - the sandbox's own token
OFFLINE_APP_TOKEN = "xapp-offline-sandbox"  # noqa: S105 - the sandbox's own app-level token
OFFLINE_VRO_URL = "http://vro.simulator"


@dataclass
class OfflineStack:
    """A running bot wired to the simulator and the sandbox."""

    clock: Clock
    sim: Simulator
    running: RunningSandbox
    bot: Bot
    driver: SlackDriver
    http: httpx.AsyncClient

    @property
    def sandbox(self) -> SlackSandbox:
        return self.running.sandbox

    async def settle(self) -> None:
        """Wait for the work the listeners started after their ack, then send what it queued."""
        await self.bot.work.drain()
        await self.bot.sender.run_until_idle(max_seconds=120)

    async def pump(self) -> None:
        """One watcher cycle, then send what it wrote to the outbox."""
        await self.bot.watcher.poll_once()
        await self.bot.sender.send_due()


def offline_settings(*, database_url: str, slack_api_url: str, socket_mode: bool = False) -> Settings:
    """The settings of a bot whose VRO is the simulator and whose Slack is the sandbox."""
    env = {
        "SLACK_BOT_TOKEN": OFFLINE_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": OFFLINE_SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "VRO_URL": OFFLINE_VRO_URL,
        "VRO_USERNAME": DEFAULT_USERNAME,
        "VRO_PASSWORD": DEFAULT_PASSWORD,
        "DATABASE_URL": database_url,
    }
    if socket_mode:
        env["SLACK_APP_TOKEN"] = OFFLINE_APP_TOKEN
    return load_settings(env)


@contextlib.asynccontextmanager
async def offline_stack(
    *,
    database_url: str,
    clock: Clock,
    policy: Policy,
    users: Mapping[str, str],
    channels: Mapping[str, str],
    watcher_config: WatcherConfig | None = None,
    estate: Estate | None = None,
    simulator_config: SimulatorConfig | None = None,
    instance_id: str = "offline",
    slack_scopes: frozenset[str] | None = None,
    socket_mode: bool = False,
    slack_retries: bool = False,
    identify: bool = True,
) -> AsyncIterator[OfflineStack]:
    """Start the simulator, the sandbox (on loopback) and the bot on ``database_url``.

    ``socket_mode`` connects the bot to the sandbox in Socket Mode (``SLACK_APP_TOKEN``): the
    driver then delivers commands, clicks and events as envelopes over the bot's websocket,
    and the bot's ``/slack/events`` does not exist. ``slack_scopes`` (e.g. ``bot.sandbox.manifest.manifest_scopes()``) makes the sandbox refuse
    calls those scopes do not cover with ``missing_scope``, as Slack does; None grants every scope.
    ``slack_retries`` has the bot's Slack client wait out 429s as ``vro-bot run``'s does (for real).
    ``identify=False`` leaves the bot's workspace to be learned by the first request.
    """
    upgrade(database_url)
    sandbox = create_sandbox(
        clock=clock,
        users=users,
        channels=channels,
        tokens=frozenset({OFFLINE_BOT_TOKEN}),
        app_tokens=frozenset({OFFLINE_APP_TOKEN}),
        scopes=slack_scopes,
    )
    sim = create_simulator(clock=clock, estate=estate, config=simulator_config)
    with serve_sandbox(sandbox) as running:
        settings = offline_settings(
            database_url=database_url, slack_api_url=running.api_url, socket_mode=socket_mode
        )
        bot = await build_bot(
            settings,
            clock=clock,
            vro_transport=httpx.ASGITransport(app=sim),
            policy=policy,
            instance_id=instance_id,
            watcher_config=watcher_config,
            slack_retries=slack_retries,
        )
        if identify:
            await bot.identify()
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=bot.http), base_url="http://bot.offline")
        # Bolt checks signatures against the real time, so the driver signs with it.
        driver = SlackDriver(
            http=http,
            signing_secret=OFFLINE_SIGNING_SECRET,
            clock=SystemClock(),
            sandbox=sandbox,
            socket=sandbox.socket_mode if socket_mode else None,
        )
        try:
            if socket_mode:
                bot.connect()
                await sandbox.socket_mode.wait_connected()
            yield OfflineStack(clock=clock, sim=sim, running=running, bot=bot, driver=driver, http=http)
        finally:
            await bot.work.drain()
            await http.aclose()
            await bot.aclose()
