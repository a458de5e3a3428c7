"""``vro-bot run``: start the bot, serve its HTTP listeners (``/slack/events`` in HTTP mode;
``/healthz``, ``/readyz``, ``/metrics``) or connect in Socket Mode, and stop in time on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.approvals.policy import Policy
from bot.config import Settings
from bot.observability.health import ListenError, health_server, listening_socket
from bot.runtime.from_settings import configure_logging_from_settings, load_configured_policy
from bot.runtime.lifecycle import Bot
from bot.runtime.loop import loop_name, run_loop
from bot.runtime.memory import limit_malloc_arenas
from bot.runtime.wiring import build_bot
from bot.slack.origin import IdentityUnknown

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 4.0
"""``run`` stops within this after SIGTERM/SIGINT (Docker's default grace is 10 s); work still
running then is cancelled (an action claimed but not confirmed is settled by the next start)."""
DRAIN_SECONDS = 2.0
"""Of which this long is given to work started by commands and clicks before it is cancelled."""


def run(settings: Settings) -> int:
    """``vro-bot run``: serve Slack (HTTP or Socket Mode) until interrupted."""
    settings.require_for_run()
    policy = load_configured_policy(settings)  # an invalid policy stops the bot before anything starts
    configure_logging_from_settings(settings)
    try:
        arenas = limit_malloc_arenas()  # before SQLite's threads start
        log.info(
            "starting on the %s event loop%s",
            loop_name(),
            f" with {arenas} malloc arenas" if arenas is not None else "",
        )
        return run_loop(_serve(settings, policy))
    except KeyboardInterrupt:
        return 0


async def _serve(settings: Settings, policy: Policy) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    built: list[Bot] = []

    async def start() -> Bot:
        bot = await build_bot(settings, policy=policy)
        built.append(bot)
        await bot.start_background()
        try:
            await bot.identify()
        except IdentityUnknown as exc:  # Slack may be down at start: requests are refused until it answers
            log.error("%s Requests are refused until Slack answers.", exc)
        return bot

    # Start-up waits on the database, VRO and Slack, any of which may hang: a signal meanwhile
    # stops it too.
    starting = loop.create_task(start(), name="start")
    stopper = loop.create_task(stop.wait())
    await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        log.info("stopping while starting up")
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        if built:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_SECONDS):
                    await built[0].aclose(drain_seconds=0)
        return 0
    bot = starting.result()
    servers = [
        health_server(Starlette(routes=routes), host=host, port=port)
        for host, port, routes in listeners(settings, bot)
    ]
    # Listening before anything is logged as listening: a probe that reads the log and connects
    # at once waits in the backlog instead of being turned away.
    bound: list[socket.socket] = []
    try:
        for server in servers:
            bound.append(listening_socket(server))
    except ListenError as exc:
        log.error("%s; exiting", exc)
        for sock in bound:
            sock.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await bot.aclose(drain_seconds=0)
        stopper.cancel()
        return 1
    serving = [
        loop.create_task(server.serve(sockets=[sock]), name=f"http:{server.config.port}")
        for server, sock in zip(servers, bound, strict=True)
    ]
    bot.connect()
    for host, port, routes in listeners(settings, bot):
        paths = ", ".join(sorted({getattr(r, "path", "") for r in routes}))
        log.info("listening on %s:%s (%s)", host, port, paths)
    if settings.socket_mode:
        log.info("connecting to Slack in Socket Mode")
    await asyncio.wait({*serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
    failed = [task for task in serving if task.done()]
    log.info("shutting down")
    try:
        async with asyncio.timeout(SHUTDOWN_SECONDS):
            for server in servers:
                server.should_exit = True
            await bot.aclose(drain_seconds=DRAIN_SECONDS)
            await asyncio.gather(*serving, return_exceptions=True)
    except TimeoutError:
        log.warning("stopped without waiting for the rest after %g s", SHUTDOWN_SECONDS)
    stopper.cancel()
    if failed and not stop.is_set():
        log.error("an HTTP listener stopped on its own (port in use?); exiting")
        return 1
    return 0


def listeners(settings: Settings, bot: Bot) -> list[tuple[str, int, list[BaseRoute]]]:
    """Where ``run`` listens, and what: ``/slack/events`` (HTTP mode) on VRO_BOT_HTTP_HOST/PORT,
    health and metrics on VRO_BOT_ADMIN_HOST/PORT (by default the same listener)."""
    public = (settings.vro_bot_http_host, settings.vro_bot_http_port)
    admin = settings.admin_listener
    if admin == public:
        return [(*public, [*bot.admin_routes, *bot.slack_routes])]
    result: list[tuple[str, int, list[BaseRoute]]] = [(*admin, bot.admin_routes)]
    if bot.slack_routes:
        result.insert(0, (*public, bot.slack_routes))
    return result
