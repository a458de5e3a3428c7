"""One bot process's long-lived objects (:class:`Bot`) and their life: the background tasks
(watcher, outbox sender, the sweep of expired requests and lapsed sends, VRO's version probe),
the Socket Mode connection, and an orderly stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.approvals.membership import GroupResolver
from bot.approvals.policy import Policy
from bot.approvals.service import ApprovalService
from bot.clock import Clock, first_of
from bot.config import Settings
from bot.observability.dependencies import vro_version_text
from bot.observability.metrics import Metrics
from bot.outbox.sender import OutboxSender
from bot.slack.blocks.replies import notice_message
from bot.slack.controller import Controller
from bot.slack.deliveries import DeliveryLog
from bot.slack.inbox import INTERRUPTED_COMMAND, RESPONSE_URL_LIFETIME, CommandInbox
from bot.slack.origin import BotIdentity, Workspace
from bot.slack.respond import Responder
from bot.slack.socket_mode import SocketModeLink
from bot.slack.work import BackgroundWork
from bot.vro.client import VroClient
from bot.vro.errors import VroError
from bot.watcher.service import Watcher

log = logging.getLogger(__name__)

# How often send claims are renewed and lapsed ones (a process that died mid-send) settled: a
# third of the claim TTL, so a dead sender's request is reported within about 16 s.
SWEEP_SECONDS = 4.0


@dataclass
class Bot:
    """Every long-lived object of one bot process."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vro: VroClient
    slack: AsyncWebClient
    policy: Policy
    groups: GroupResolver
    approvals: ApprovalService
    controller: Controller
    watcher: Watcher
    sender: OutboxSender
    app: AsyncApp
    http: Starlette
    """Every route (``/slack/events`` in HTTP mode, health, metrics) in one app, for in-process use."""
    slack_routes: list[BaseRoute]
    admin_routes: list[BaseRoute]
    metrics: Metrics
    work: BackgroundWork
    instance_id: str
    identity: BotIdentity
    deliveries: DeliveryLog
    inbox: CommandInbox
    socket_mode: SocketModeLink | None = None
    """The Socket Mode connection (when ``SLACK_APP_TOKEN`` is set); connect it with ``connect``."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def identify(self) -> Workspace:
        """Learn (``auth.test``) which workspace and app the bot token belongs to.

        Requests from anywhere else are refused; raises
        :class:`~bot.slack.origin.IdentityUnknown` when Slack does not say.
        """
        return await self.identity.workspace()

    async def start_background(self) -> None:
        """Reconcile interrupted sends, then run the watcher, the outbox sender and the sweep."""
        settled = await self.approvals.reconcile_unknown()
        if settled:
            log.warning(
                "%d request(s) were interrupted before or while sending; the channel is told", len(settled)
            )
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.watcher.run(stop=self._stop), name="watcher"),
            loop.create_task(self.sender.run(stop=self._stop), name="outbox"),
            loop.create_task(self._expiry_loop(), name="expiry"),
            loop.create_task(self._negotiate_vro(), name="vro-version"),
        ]

    async def _negotiate_vro(self) -> None:
        """Probe VRO's API version once at start-up (``auto``), so the first command needs no probe."""
        try:
            await self.vro.negotiate()
        except VroError as exc:
            log.warning("VRO's API version is not known yet (%s); the first request will ask again", exc)
        else:
            log.info("VRO: %s", vro_version_text(self.vro))

    async def _expiry_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.approvals.heartbeat()  # this process's sends in flight stay claimed
                await self.controller.expire_due()
                # Another replica (or this process before a restart) may have died mid-send.
                await self.approvals.reconcile_unknown()
                await self.tell_interrupted_commands()
                await self.deliveries.forget_old()
            except Exception:
                log.exception("expiry sweep failed")
            await first_of(self.clock.sleep(SWEEP_SECONDS), self._stop.wait())

    async def tell_interrupted_commands(self) -> int:
        """Tell whoever typed a command that a dead process left half done; how many were told."""
        told = 0
        for command in await self.inbox.interrupted():
            # Through its response_url while Slack keeps it; a form (which has none) or a command
            # whose response_url has lapsed gets an ephemeral message in its channel instead.
            fresh = command.received_at >= self.clock.now() - RESPONSE_URL_LIFETIME
            reply = Responder(
                slack_api_url=self.settings.slack_api_url,
                client=self.slack,
                channel=command.channel_id,
                user=command.user_id,
                response_url=command.response_url if fresh else None,
            )
            try:
                await reply(notice_message(INTERRUPTED_COMMAND.format(text=command.text), emoji=":warning:"))
            except Exception:
                log.exception("could not tell %s about an interrupted command", command.user_id)
                continue
            told += 1
        return told

    def connect(self) -> asyncio.Task[None] | None:
        """Start connecting to Slack in Socket Mode (retrying until connected or closed)."""
        if self.socket_mode is None:
            return None
        task = asyncio.get_running_loop().create_task(self.socket_mode.run(self._stop), name="socket-mode")
        self._tasks.append(task)
        return task

    async def aclose(self, *, drain_seconds: float | None = None) -> None:
        """Stop everything; work started by commands gets ``drain_seconds`` (None: all it needs)."""
        self._stop.set()
        if self.socket_mode is not None:
            await self.socket_mode.aclose()
        try:
            async with asyncio.timeout(drain_seconds):
                await self.work.drain()
        except TimeoutError:
            log.warning("stopping: %d command(s) still running were cancelled", self.work.pending)
            await self.work.cancel_all()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.watcher.release()
        await self.vro.aclose()
        await self.engine.dispose()
