"""The bot's Socket Mode connection: connect, keep it, say why it is down, let go at once.

Bolt's ``AsyncSocketModeHandler`` (slack_sdk's aiohttp client underneath) receives envelopes,
runs the app and acks; once connected it follows Slack's ``disconnect`` / refresh messages and
reconnects by itself. What it does not do well is the first connection: with a refused app
token it retries forever, logging a traceback every 10 s, and nothing can interrupt it except
cancelling the task. :class:`SocketModeLink` therefore asks for the websocket URL itself
(``apps.connections.open``, with Slack's refusal or the network failure kept as
:attr:`SocketModeLink.problem` for ``/readyz`` and logged as one line), backs off between tries
on the injected clock, and hands the URL to the handler only when there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.slack.connection import SlackRefused, SlackUnreachable, open_socket_url, refusal_advice

log = logging.getLogger(__name__)

CONNECT_TIMEOUT: Final = 20.0
"""How long the websocket may take to open before a new URL is asked for."""
CLOSE_TIMEOUT: Final = 2.0
"""How long a clean websocket close may take on shutdown (aiohttp would wait 10 s)."""
PING_INTERVAL: Final = 10.0
NOT_STARTED: Final = "not connected to Slack yet (Socket Mode)"
RECONNECTING: Final = "the Socket Mode connection dropped; reconnecting"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between connection attempts: ``initial`` doubling up to ``ceiling``, ± ``jitter``."""

    initial: float = 1.0
    ceiling: float = 60.0
    jitter: float = 0.2

    def seconds(self, attempt: int) -> float:
        base: float = min(self.ceiling, self.initial * 2.0 ** max(0, attempt - 1))
        return base * (1 + self.jitter * (2 * random.random() - 1))  # noqa: S311 - spreading retries


class NotConnected(Exception):
    """Raised by :meth:`SocketModeLink.ready` with the reason as its message."""


class SocketModeLink:
    """Keeps one Socket Mode connection for ``app``; ``run`` until ``stop``, then ``aclose``."""

    def __init__(
        self,
        *,
        app: AsyncApp,
        app_token: str,
        clock: Clock,
        backoff: Backoff | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self._app = app
        self._token = app_token
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._connect_timeout = connect_timeout
        self._handler: Any = None
        self.problem: str | None = NOT_STARTED
        """Why the bot is not connected (None once it is)."""
        self.attempts = 0
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, retrying with backoff until connected or ``stop`` is set; returns either way.

        Once connected, the handler's own monitor keeps the connection (refreshes, drops).
        """
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        if self._handler is None:
            self._handler = AsyncSocketModeHandler(
                self._app, self._token, ping_interval=PING_INTERVAL, logger=logging.getLogger("slack_sdk")
            )
            client = self._handler.client
            client.issue_new_wss_url = self._watching_refusals(client.issue_new_wss_url)
        client = self._handler.client
        while not stop.is_set():
            self.attempts += 1
            try:
                client.wss_uri = await open_socket_url(client.web_client, self._token)
                async with asyncio.timeout(self._connect_timeout):
                    await client.connect()
            except SlackRefused as refusal:
                self._refused(refusal)
            except SlackUnreachable as unreachable:
                self.problem = f"cannot reach Slack: {unreachable.problem}. {unreachable.advice}"
                log.warning("Socket Mode: %s", self.problem)
            except TimeoutError:
                client.wss_uri = None
                self.problem = f"the Socket Mode websocket did not open within {self._connect_timeout:g} s"
                log.warning("Socket Mode: %s", self.problem)
            else:
                self.problem = None
                self.connected.set()
                log.info("connected to Slack in Socket Mode")
                return
            wait = self._backoff.seconds(self.attempts)
            log.info("Socket Mode: trying again in %.0f s", wait)
            await _wait(stop, self._clock, wait)

    def _refused(self, refusal: SlackRefused) -> None:
        problem = f"Slack refused the app token ({refusal.error}). {refusal_advice(refusal, app_token=True)}"
        if problem != self.problem:
            log.error("Socket Mode: %s", problem)
        self.problem = problem

    def _watching_refusals(self, issue: Callable[[], Awaitable[str]]) -> Callable[[], Awaitable[str]]:
        """The handler's own ``apps.connections.open`` (on a drop, a refresh, a ``disconnect``),
        noting Slack's refusal as :attr:`problem`: an app token revoked while the bot runs shows
        in ``/readyz`` as refused, not as "reconnecting" for ever."""

        async def issue_new_wss_url() -> str:
            try:
                url = await issue()
            except SlackApiError as exc:
                data = exc.response.data if isinstance(exc.response.data, dict) else {}
                if data.get("error"):
                    needed = data.get("needed")
                    self._refused(
                        SlackRefused(
                            str(data["error"]),
                            method="apps.connections.open",
                            needed=str(needed) if needed else None,
                        )
                    )
                raise
            if self.problem is not None:
                log.info("Socket Mode: Slack accepts the app token again")
            self.problem = None
            return url

        return issue_new_wss_url

    async def ready(self) -> None:
        """A readiness check: raises :class:`NotConnected` naming the reason when not connected."""
        if self._handler is None or self.problem is not None:
            raise NotConnected(self.problem or NOT_STARTED)
        if not await self._handler.client.is_connected():
            raise NotConnected(RECONNECTING)

    async def aclose(self) -> None:
        """Close the connection within :data:`CLOSE_TIMEOUT` seconds, whatever its state."""
        handler, self._handler = self._handler, None
        if handler is None:
            return
        client = handler.client
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await handler.close_async()
        except TimeoutError:
            log.warning("Socket Mode: the websocket did not close within %g s; dropped it", CLOSE_TIMEOUT)
            for task in (client.message_processor, client.current_session_monitor, client.message_receiver):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(Exception):
                await client.aiohttp_client_session.close()


async def _wait(stop: asyncio.Event, clock: Clock, seconds: float) -> None:
    """Sleep ``seconds`` on ``clock``, or less if ``stop`` is set meanwhile."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
