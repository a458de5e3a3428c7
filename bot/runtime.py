"""The composition root: the only module that knows every part and wires them together.

``build_bot`` turns :class:`~bot.config.Settings` into a running set of objects (database,
VRO client, Slack client, policy, approvals, watcher, outbox, Bolt app, HTTP app, metrics).
Tests and the demo call it with fakes plugged in at the transports (a VRO transport, a Slack
API URL pointing at the sandbox) and a clock; ``run`` and ``check`` are the CLI's entry points.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from bot.approvals.membership import CachedGroupResolver, GroupResolver
from bot.approvals.outcomes import RequestView
from bot.approvals.policy import Policy, load_policy
from bot.approvals.report import record_run_finished
from bot.approvals.rules import CHECK_PASSED
from bot.approvals.service import ApprovalService
from bot.approvals.verify import ChainMonitor
from bot.clock import Clock, SystemClock, first_of
from bot.config import ConfigError, Settings
from bot.db import create_engine, session_factory
from bot.migrate import ensure_schema
from bot.observability.check import (
    CONFIG_ADVICE,
    CONFIG_MISSING,
    CONFIG_OK,
    CheckFailed,
    DependencyCheck,
    run_check_command,
)
from bot.observability.dependencies import (
    database_check,
    database_ready,
    policy_check,
    slack_check,
    socket_mode_check,
    vro_check,
    vro_version_text,
)
from bot.observability.health import health_routes, health_server
from bot.observability.logging import LoggingSetup, Redactor, configure_logging
from bot.observability.metrics import Metrics, OutboxStats, create_metrics, instrument_httpx
from bot.outbox.sender import DeliveryFailure, OutboxSender
from bot.outbox.slack_poster import SlackWebPoster
from bot.outbox.store import pending_backlog
from bot.slack.access import Access
from bot.slack.announce import ChannelHooks, card_request_id
from bot.slack.app import build_app
from bot.slack.blocks.replies import notice_message
from bot.slack.controller import Controller
from bot.slack.deliveries import DeliveryLog
from bot.slack.grammar import VERBS
from bot.slack.groups import SlackGroupResolver
from bot.slack.http_events import slack_events_endpoint
from bot.slack.inbox import INTERRUPTED_COMMAND, RESPONSE_URL_LIFETIME, CommandInbox
from bot.slack.listeners.edge import SlackAppParts
from bot.slack.origin import BotIdentity, IdentityUnknown, Workspace, slack_identity
from bot.slack.respond import Responder
from bot.slack.socket_mode import SocketModeLink
from bot.slack.work import BackgroundWork
from bot.vro.actions import ActionResult, PlanAction, perform
from bot.vro.auth import ClientCredentialsGrant, Credentials, PasswordCredentials
from bot.vro.client import VroClient, tls_verify
from bot.vro.errors import VroError
from bot.vro.models import Plan
from bot.vro.times import zone_named
from bot.watcher.service import FinishedRun, Watcher, WatcherConfig
from bot.watcher.tables import active_watches

log = logging.getLogger(__name__)

# How often send claims are renewed and lapsed ones (a process that died mid-send) settled: a
# third of the claim TTL, so a dead sender's request is reported within about 16 s.
SWEEP_SECONDS = 4.0
# A message being sent is claimed for this long: a dead process's claim lapses in seconds, so the
# channel's next message is not held up for minutes. A Slack call gives up well before (the
# message is then looked up by its key before any second attempt).
OUTBOX_CLAIM_SECONDS = 15.0
SLACK_TIMEOUT_SECONDS = 10
SHUTDOWN_SECONDS = 4.0
"""``run`` stops within this after SIGTERM/SIGINT (Docker's default grace is 10 s); work still
running then is cancelled (an action claimed but not confirmed is settled by the next start)."""
DRAIN_SECONDS = 2.0
"""Of which this long is given to work started by commands and clicks before it is cancelled."""


class VroPlanGateway:
    """The approval service's view of VRO: read a plan, perform an action."""

    def __init__(self, *, client: VroClient) -> None:
        self._client = client

    async def current_plan(self, plan_id: str) -> Plan:
        return await self._client.get_plan(plan_id)

    async def perform(self, action: PlanAction, plan_id: str, params: Any) -> ActionResult:
        return await perform(self._client, action, plan_id, params)

    async def runtime(self, plan_id: str) -> dict[str, Any]:
        details = await self._client.get_plan_runtime(plan_id)
        return details.model_dump(mode="json", exclude_none=True)


class LogNotifier:
    """Logs requests whose outcome is unknown (the channel is told through the outbox hooks)."""

    async def outcome_unknown(self, request: RequestView) -> None:
        log.warning(
            "request %s (%s on %s) has an unknown outcome; never resent",
            request.id,
            request.action,
            request.plan_id,
        )


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
            if command.response_url is None or command.received_at < self.clock.now() - RESPONSE_URL_LIFETIME:
                log.warning("command %s was interrupted; its response_url has expired", command.id)
                continue
            reply = Responder(
                slack_api_url=self.settings.slack_api_url,
                client=self.slack,
                channel=command.channel_id,
                user=command.user_id,
                response_url=command.response_url,
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


def load_configured_policy(settings: Settings) -> Policy:
    """The policy file named by ``VRO_BOT_POLICY``, or the built-in policy."""
    if settings.vro_bot_policy is None:
        return Policy.builtin()
    return load_policy(settings.vro_bot_policy)


def instance_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def build_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    vro_transport: httpx.AsyncBaseTransport | None = None,
    policy: Policy | None = None,
    instance_id: str | None = None,
    check_schema: bool = True,
    watcher_config: WatcherConfig | None = None,
    slack_retries: bool = True,
) -> Bot:
    """Wire every part from ``settings``. Nothing starts running until ``start_background``."""
    the_clock: Clock = clock or SystemClock()
    name = instance_id or instance_name()
    if check_schema:
        await asyncio.to_thread(
            ensure_schema, settings.database_url, auto_migrate=settings.vro_bot_auto_migrate
        )
    the_policy = policy or load_configured_policy(settings)
    metrics = create_metrics(known_verbs=tuple(VERBS))
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    vro = vro_client_from(
        settings,
        transport=vro_transport,
        clock=the_clock,
        event_hooks=instrument_httpx(metrics, clock=the_clock),
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = AsyncWebClient(token=token, base_url=settings.slack_api_url)
    if slack_retries:
        slack.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    groups = CachedGroupResolver(
        inner=SlackGroupResolver(client=slack),
        clock=the_clock,
        ttl_seconds=settings.vro_bot_group_ttl_seconds,
        grace_seconds=settings.vro_bot_group_grace_seconds,
    )
    identity = BotIdentity(slack_identity(slack))
    the_watcher_config = watcher_config or watcher_config_from(settings)
    approvals = ApprovalService(
        sessions=sessions,
        clock=the_clock,
        policy=the_policy,
        groups=groups,
        gateway=VroPlanGateway(client=vro),
        notifier=LogNotifier(),
        instance_id=name,
        workspace=identity,
        hooks=ChannelHooks(
            clock=the_clock,
            poll_seconds=the_watcher_config.poll_seconds,
            no_run_seconds=the_watcher_config.no_run_seconds,
        ),
    )
    access = Access(policy=the_policy, groups=groups, audit=approvals)

    async def delivery_failed(failure: DeliveryFailure) -> None:
        metrics.record_slack_error("chat.postMessage", failure.error)
        log.error("Slack refused message %s in %s: %s", failure.key, failure.channel, failure.error)
        request_id = card_request_id(failure.key)
        if request_id is not None and await approvals.withdraw(
            request_id, f"its approval card could not be posted ({failure.error})"
        ):
            log.error("request %s cancelled: nobody could see its approval card", request_id)

    sender = OutboxSender(
        session_factory=sessions,
        poster=SlackWebPoster.from_token(
            token, base_url=settings.slack_api_url, timeout=SLACK_TIMEOUT_SECONDS
        ),
        clock=the_clock,
        owner=f"{name}-outbox",
        on_failure=delivery_failed,
        claim_seconds=OUTBOX_CLAIM_SECONDS,
        send_seconds=SLACK_TIMEOUT_SECONDS + 1,  # a post starts only while its claim outlasts the call
    )
    watcher = Watcher(
        session_factory=sessions,
        source=vro,
        clock=the_clock,
        config=the_watcher_config,
        owner=f"{name}-watcher",
        plans=vro,
        on_outbox=sender.wake,
        rto_for=the_policy.rto_minutes,
        on_run_finished=lambda session, run: run_finished(session, run, approvals),
    )
    work = BackgroundWork()
    deliveries = DeliveryLog(sessions=sessions, clock=the_clock)
    inbox = CommandInbox(sessions=sessions, clock=the_clock)
    controller = Controller(
        vro=vro,
        approvals=approvals,
        access=access,
        watcher=watcher,
        clock=the_clock,
        record_command=metrics.record_command,
        record_approval=metrics.record_approval,
    )
    app = build_app(
        SlackAppParts(
            controller=controller,
            approvals=approvals,
            policy=the_policy,
            groups=groups,
            access=access,
            identity=identity,
            deliveries=deliveries,
            work=work,
            clock=the_clock,
            slack_api_url=settings.slack_api_url,
            inbox=inbox,
        ),
        client=slack,
        signing_secret=settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret
        else None,
        request_verification=not settings.socket_mode,
    )

    async def outbox_stats() -> OutboxStats:
        depth, oldest_age = await pending_backlog(sessions, the_clock.now())
        return OutboxStats(depth=depth, oldest_age_seconds=oldest_age)

    metrics.sample_outbox(outbox_stats)
    metrics.sample_active_watches(lambda: active_watches(sessions))
    chain = ChainMonitor(sessions=sessions, clock=the_clock)

    async def sample_audit_chain() -> None:
        report = await chain.check()
        metrics.set_audit_chain(
            intact=report.ok,
            rows=report.verified.rows,
            head_row=report.verified.row_id,
            head_hash=report.verified.hash,
            broken_row=report.finding.row_id if report.finding else None,
        )

    metrics.add_sampler("audit_chain", sample_audit_chain)

    async def database_is_ready() -> None:
        await database_ready(engine, settings.database_url)

    async def vro_ready() -> str:
        # A token cached from an earlier login proves nothing about VRO now: read one plan, which
        # also logs in again when VRO no longer accepts the token.
        await vro.get_plans(limit=1)
        return vro_version_text(vro)

    socket_mode: SocketModeLink | None = None
    readiness = {"database": database_is_ready, "vro": vro_ready}
    if settings.socket_mode:
        assert settings.slack_app_token is not None
        socket_mode = SocketModeLink(
            app=app, app_token=settings.slack_app_token.get_secret_value(), clock=the_clock
        )
        readiness["slack"] = socket_mode.ready
    redactor = Redactor(secrets_from_settings(settings))
    admin_routes = health_routes(metrics=metrics, checks=readiness, clock=the_clock, redactor=redactor)
    # In Socket Mode requests are not signed (Bolt skips verification), so /slack/events must not
    # exist there: anyone who reached the port could otherwise send commands.
    slack_routes: list[BaseRoute] = (
        []
        if settings.socket_mode or settings.slack_signing_secret is None
        else [
            Route(
                "/slack/events",
                slack_events_endpoint(app, settings.slack_signing_secret.get_secret_value()),
                methods=["POST"],
            )
        ]
    )
    http = Starlette(routes=[*admin_routes, *slack_routes])
    return Bot(
        settings=settings,
        clock=the_clock,
        engine=engine,
        sessions=sessions,
        vro=vro,
        slack=slack,
        policy=the_policy,
        groups=groups,
        approvals=approvals,
        controller=controller,
        watcher=watcher,
        sender=sender,
        app=app,
        http=http,
        slack_routes=slack_routes,
        admin_routes=admin_routes,
        metrics=metrics,
        work=work,
        instance_id=name,
        inbox=inbox,
        identity=identity,
        deliveries=deliveries,
        socket_mode=socket_mode,
    )


async def run_finished(session: AsyncSession, run: FinishedRun, approvals: ApprovalService) -> None:
    """The watcher's summary hook, in the summary's transaction: the run goes into the audit log,
    and a passed readiness check lifts the readiness warnings of the plan's open requests."""
    audit_run_finished(session, run)
    if run.info.action == PlanAction.READINESS_CHECK and run.record.outcome in CHECK_PASSED:
        await approvals.readiness_proven(session, run.info.plan_id, actor=f"watch:{run.watch_id}")


def audit_run_finished(session: AsyncSession, run: FinishedRun) -> None:
    """The run's audit row (``run_finished``), read back by ``vro-bot report``."""
    info = run.info
    record_run_finished(
        session,
        at=run.at,
        actor=f"watch:{run.watch_id}",
        request_id=run.request_id,
        plan_id=info.plan_id,
        plan_name=info.plan_name,
        detail={
            "action": info.action,
            "requested_by": info.requested_by,
            "approved_by": list(info.approved_by),
            **run.record.audit_detail(),
        },
    )


# --- vro-bot run ------------------------------------------------------------------------------


def run(settings: Settings) -> int:
    """``vro-bot run``: serve Slack (HTTP or Socket Mode) until interrupted."""
    settings.require_for_run()
    policy = load_configured_policy(settings)  # an invalid policy stops the bot before anything starts
    configure_logging_from_settings(settings)
    try:
        return asyncio.run(_serve(settings, policy))
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
    # Bound before anything is logged as listening: a probe that reads the log and connects at
    # once waits in the backlog instead of being turned away.
    bound = [server.config.bind_socket() for server in servers]
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


# --- vro-bot check ----------------------------------------------------------------------------


def check(settings: Settings) -> int:
    """``vro-bot check``: each dependency with a verdict; exit 0 only when all pass."""
    return asyncio.run(_check(settings))


async def _check(settings: Settings) -> int:
    checks = [
        configuration_check(settings),
        policy_check(lambda: load_configured_policy(settings), builtin=settings.vro_bot_policy is None),
        database_check(settings.database_url),
        vro_check(lambda: vro_client_from(settings), settings.vro_url),
        slack_check(secret(settings.slack_bot_token), settings.slack_api_url),
    ]
    if settings.socket_mode:
        checks.append(socket_mode_check(secret(settings.slack_app_token), settings.slack_api_url))
    return await run_check_command(checks, redactor=Redactor(secrets_from_settings(settings)))


# --- settings -> objects: the one place that reads Settings ------------------------------------


def watcher_config_from(settings: Settings, **overrides: Any) -> WatcherConfig:
    """The watcher's timing from ``VRO_BOT_POLL_SECONDS`` and friends; ``overrides`` win."""
    values: dict[str, Any] = {
        "poll_seconds": settings.vro_bot_poll_seconds,
        "poll_max_seconds": max(settings.vro_bot_poll_max_seconds, settings.vro_bot_poll_seconds),
        "announce_channel": settings.vro_bot_announce_channel or None,
        "no_run_seconds": settings.vro_bot_no_run_minutes * 60.0,
    }
    values.update(overrides)
    return WatcherConfig(**values)


def vro_client_from(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> VroClient:
    """A client configured from ``VRO_*`` settings; :class:`ConfigError` names what is missing."""
    if not settings.vro_url:
        raise ConfigError("Missing configuration: VRO_URL")
    return VroClient(
        base_url=settings.vro_url,
        credentials=vro_credentials_from(settings),
        api_version=settings.vro_api_version,
        zone=zone_named(settings.vro_timezone),
        transport=transport,
        verify=tls_verify(
            ca_bundle=str(settings.vro_ca_bundle) if settings.vro_ca_bundle else None,
            verify_tls=settings.vro_verify_tls,
        ),
        clock=clock,
        event_hooks=event_hooks,
    )


def vro_credentials_from(settings: Settings) -> Credentials:
    """Client credentials when configured (VRO's recommendation for integrations), else a user."""
    if (
        settings.vro_client_id
        and settings.vro_client_secret
        and settings.vro_client_secret.get_secret_value()
    ):
        return ClientCredentialsGrant(
            client_id=settings.vro_client_id, client_secret=settings.vro_client_secret.get_secret_value()
        )
    if settings.vro_username and settings.vro_password and settings.vro_password.get_secret_value():
        mfa = settings.vro_mfa_secret.get_secret_value() if settings.vro_mfa_secret else None
        return PasswordCredentials(
            username=settings.vro_username,
            password=settings.vro_password.get_secret_value(),
            mfa_secret=mfa or None,
        )
    raise ConfigError("Missing configuration: VRO_USERNAME/VRO_PASSWORD or VRO_CLIENT_ID/VRO_CLIENT_SECRET")


def secrets_from_settings(settings: Settings) -> list[str]:
    """Every secret value in ``settings``: the SecretStr fields and a DATABASE_URL password."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
    db_password = urlsplit(settings.database_url).password
    if db_password:
        found.append(db_password)
    return found


def configure_logging_from_settings(settings: Settings, *, stream: TextIO | None = None) -> LoggingSetup:
    """:func:`configure_logging` with ``VRO_BOT_LOG_FORMAT``/``VRO_BOT_LOG_LEVEL`` and every
    secret of ``settings`` registered with the redactor."""
    return configure_logging(
        fmt=settings.vro_bot_log_format,
        level=settings.vro_bot_log_level,
        redactor=Redactor(secrets_from_settings(settings)),
        stream=stream,
    )


def configuration_check(settings: Settings, *, name: str = "configuration") -> DependencyCheck:
    """Passes when every variable ``vro-bot run`` needs is set; names the missing ones otherwise."""

    async def run() -> str:
        missing = settings.missing_for_run()
        if missing:
            raise CheckFailed(CONFIG_MISSING.format(names=", ".join(missing)), advice=CONFIG_ADVICE)
        if settings.socket_mode:
            mode = "Socket Mode"
        else:
            mode = f"HTTP mode on {settings.vro_bot_http_host}:{settings.vro_bot_http_port}"
        return CONFIG_OK.format(mode=mode)

    return DependencyCheck(name=name, run=run, advice=CONFIG_ADVICE)


def secret(value: SecretStr | None) -> str:
    """A secret setting's value, empty when unset."""
    return value.get_secret_value() if value is not None else ""
