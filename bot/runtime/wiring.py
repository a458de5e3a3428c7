"""Wiring: ``build_bot`` turns :class:`~bot.config.Settings` into a :class:`~bot.runtime.lifecycle.Bot`
(database, VRO client, Slack client, policy, approvals, watcher, outbox, Bolt app, HTTP routes,
metrics). Tests and the demo call it with fakes plugged in at the transports (a VRO transport, a
Slack API URL pointing at the sandbox) and a clock. Also the adapters it plugs in: the approval
service's view of VRO, its notifier, and the watcher's summary hook.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

import httpx
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from bot.approvals.membership import CachedGroupResolver
from bot.approvals.outcomes import RequestView
from bot.approvals.policy import Policy
from bot.approvals.report import record_run_finished
from bot.approvals.rules import CHECK_PASSED
from bot.approvals.service import ApprovalService
from bot.approvals.verify import ChainMonitor
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import create_engine, session_factory
from bot.migrate import ensure_schema
from bot.observability.dependencies import database_ready, vro_version_text
from bot.observability.health import health_routes
from bot.observability.logging import Redactor
from bot.observability.metrics import OutboxStats, create_metrics, instrument_httpx
from bot.outbox.sender import DeliveryFailure, OutboxSender
from bot.outbox.slack_poster import SlackWebPoster
from bot.outbox.store import enqueue_post, pending_backlog
from bot.runtime.from_settings import (
    load_configured_policy,
    secrets_from_settings,
    vro_client_from,
    watcher_config_from,
)
from bot.runtime.lifecycle import Bot
from bot.slack.access import Access
from bot.slack.announce import ChannelHooks, card_request_id
from bot.slack.app import build_app
from bot.slack.controller import Controller
from bot.slack.deliveries import DeliveryLog
from bot.slack.grammar import VERBS
from bot.slack.groups import SlackGroupResolver
from bot.slack.http_events import slack_events_endpoint
from bot.slack.inbox import CommandInbox
from bot.slack.listeners.edge import SlackAppParts
from bot.slack.message import Message
from bot.slack.origin import BotIdentity, slack_identity
from bot.slack.socket_mode import SocketModeLink
from bot.slack.work import BackgroundWork
from bot.vro.actions import ActionResult, PlanAction, perform
from bot.vro.client import VroClient
from bot.vro.models import Plan
from bot.watcher.service import FinishedRun, Watcher, WatcherConfig
from bot.watcher.tables import active_watches

log = logging.getLogger(__name__)

# A message being sent is claimed for this long: a dead process's claim lapses in seconds, so the
# channel's next message is not held up for minutes. A Slack call gives up well before (the
# message is then looked up by its key before any second attempt).
OUTBOX_CLAIM_SECONDS = 15.0
SLACK_TIMEOUT_SECONDS = 10
# Who is in a user group, and (until it is known) which workspace the bot serves, are asked while
# a command or click waits for its ack (Slack gives 3 s): one try with a short timeout, never a
# wait for Retry-After. A refused group lookup falls back on the cached answer within its grace,
# or refuses the click and says why; an unknown workspace refuses the request and says why.
GROUP_LOOKUP_TIMEOUT_SECONDS = 2


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
    before_ack = AsyncWebClient(
        token=token, base_url=settings.slack_api_url, timeout=GROUP_LOOKUP_TIMEOUT_SECONDS, retry_handlers=[]
    )
    groups = CachedGroupResolver(
        inner=SlackGroupResolver(client=before_ack),
        clock=the_clock,
        ttl_seconds=settings.vro_bot_group_ttl_seconds,
        grace_seconds=settings.vro_bot_group_grace_seconds,
    )
    identity = BotIdentity(slack_identity(before_ack))
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

    async def post_public(channel: str, message: Message) -> None:
        """A public answer whose response_url failed: a channel message, so through the outbox."""
        async with sessions() as session, session.begin():
            await enqueue_post(
                session,
                key=f"reply:{uuid.uuid4().hex}",
                channel=channel,
                message=message,
                now=the_clock.now(),
            )
        sender.wake()

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
            post_public=post_public,
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
