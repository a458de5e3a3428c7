"""The Bolt app: middlewares, then listeners that parse, ack at once, and hand the rest on.

``build_app`` builds the app and registers the listeners of :mod:`bot.slack.listeners` (one
module per surface) with their collaborators; there is no module-level app. Before any listener runs, two global middlewares read the request once into
an :class:`~bot.slack.origin.Envelope` and (1) refuse a request from any workspace, enterprise
or app other than the bot's own, (2) hold the work a delivery starts until its key
(``trigger_id`` or ``event_id``) is recorded, in the database so it holds across replicas: a
delivery seen before is acked and does nothing.
Listeners then do only cheap work before ``ack()`` (parsing, the channel allow-list), so Slack
gets its answer in milliseconds; VRO, the database and Slack's Web API are used afterwards in
:class:`~bot.slack.work.BackgroundWork`, where every read is checked by
:class:`~bot.slack.access.Access` (channel, viewer role) and every action by the approval
service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.outcomes import Refusal
from bot.observability.logging import start_request
from bot.slack.access import Refused
from bot.slack.deliveries import is_retry
from bot.slack.listeners.commands import CommandListeners
from bot.slack.listeners.decisions import DecisionListeners
from bot.slack.listeners.edge import Edge, SlackAppParts
from bot.slack.listeners.home import HOME_OPENED, HomeListeners
from bot.slack.listeners.modal import ModalListeners
from bot.slack.listeners.plan_buttons import PlanButtonListeners
from bot.slack.origin import COMMAND as COMMAND_KIND
from bot.slack.origin import Envelope, IdentityUnknown, foreign_reason
from bot.slack.payloads import text_of, user_of

log = logging.getLogger(__name__)

EVENTS = frozenset({HOME_OPENED})
"""Every Events API event the app listens to (``app-manifest.yml`` subscribes to exactly these)."""
FOREIGN_WORKSPACE = "This VRO bot belongs to another Slack workspace, so it can't act on requests from here."
NOT_A_SLACK_PAYLOAD = (
    "This request carries no Slack command, interaction or event, so there is nothing to do."
)
IDENTITY_UNKNOWN = (
    "The VRO bot can't confirm which Slack workspace it serves right now. Try again in a minute."
)


class _TokenGivenAsClient(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment even when it is handed a client (ours,
    built from that same token) and an ``authorize`` (ours, which hands out that same token), and
    then warns on every start that the token "will be unused" / "will be ignored". Nothing is
    wrong, so the warning would only teach operators to ignore warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "`token` will be unused" not in message and "env variable) will be ignored" not in message


def _quiet_token_warning() -> None:
    bolt = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _TokenGivenAsClient) for f in bolt.filters):
        bolt.addFilter(_TokenGivenAsClient())


def build_app(
    parts: SlackAppParts,
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    request_verification: bool = True,
) -> AsyncApp:
    """A Bolt ``AsyncApp`` for ``/vro``, approval buttons, the modal and the App Home."""
    _quiet_token_warning()
    identity = parts.identity
    token = client.token or ""

    async def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        """Bolt's authorization, from what the bot learned of itself: no call to Slack here.

        Bolt's own asks ``auth.test`` on the listeners' client before the ack, which waits out a
        429 and then answers "your installation ... is no longer available": an operator would
        reinstall the app over a rate limit. Whether the request comes from the bot's workspace
        is checked next (``from_our_workspace``), which says so plainly while it is unknown.
        """
        ours = identity.known
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=token,
            bot_user_id=ours.bot_user_id if ours is not None else None,
            bot_id=ours.bot_id if ours is not None else None,
        )

    app = AsyncApp(
        client=client,
        authorize=authorize,
        signing_secret=signing_secret or "socket-mode-has-no-signing-secret",
        process_before_response=True,
        request_verification_enabled=request_verification,
        raise_error_for_unhandled_request=False,
        ignoring_self_events_enabled=True,
    )
    work, access = parts.work, parts.access

    @app.middleware
    async def bind_request(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        """One request id per command, click or event, on every log line it causes (after the ack too).

        Bolt runs listeners after the middleware chain has returned, in the same task, so the
        context is bound here (replacing the previous request's) rather than in a ``with`` block;
        the work spawned by the listener copies it.
        """
        kind = text_of(body.get("command")) or text_of(body.get("type")) or "request"
        start_request(user=user_of(body) or None, kind=kind, channel=text_of(body.get("channel_id")) or None)
        await next()

    @app.middleware
    async def from_our_workspace(
        body: dict[str, Any],
        context: AsyncBoltContext,
        req: AsyncBoltRequest,
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        """Refuse, before any work, what another workspace, enterprise or app sends."""
        envelope = Envelope.from_body(body)
        context["envelope"] = envelope
        work.hold(None)  # a new request: nothing held yet
        if not envelope.kind:
            # Signed with our secret, yet no command, interaction or event in it: nothing to run,
            # and nobody to tell but the caller.
            log.warning("refused a signed request that carries no Slack command, interaction or event")
            return BoltResponse(status=400, body=NOT_A_SLACK_PAYLOAD)
        try:
            ours = await parts.identity.workspace()
        except IdentityUnknown as exc:
            log.error("refused a request: the bot's own workspace is unknown (%s)", exc)
            # A command's answer is shown to the person; other kinds get a plain refusal.
            return BoltResponse(status=200 if envelope.kind == COMMAND_KIND else 503, body=IDENTITY_UNKNOWN)
        reason = foreign_reason(envelope, ours)
        if reason is None:
            await next()
            return None
        log.warning("refused a %s request from outside the bot's workspace: %s", envelope.kind, reason)
        work.spawn(
            access.record(
                envelope.user_id or "unknown",
                Refused(Refusal.WORKSPACE, FOREIGN_WORKSPACE),
                surface=envelope.kind or "request",
                actor_team=",".join(sorted(envelope.team_ids)) or None,
                enterprise=",".join(sorted(envelope.enterprise_ids)) or None,
                app=envelope.app_id,
                why=reason,
            ),
            name="audit.foreign",
        )
        # A command's answer is shown to the person; other kinds get a plain refusal. In Socket
        # Mode only a 200 acks the envelope: anything else and Slack delivers it again, refused
        # and audited each time, so the refusal is acked there.
        final = envelope.kind == COMMAND_KIND or req.mode == "socket_mode"
        return BoltResponse(status=200 if final else 403, body=FOREIGN_WORKSPACE)

    @app.middleware
    async def once_per_delivery(
        req: AsyncBoltRequest, context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Whatever this delivery starts after its ack runs only if it is the first of its key.

        The key is recorded alongside the ack (waiting for a database write would cost every
        ack its latency); the work waits for it, so a copy, here or on another replica, is acked
        and does nothing. A retry Slack marks as such but that carries no key is dropped.
        """
        envelope: Envelope = context["envelope"]
        key = envelope.delivery_key
        if key is None and is_retry(req.headers):
            log.info("a %s delivered again was answered once already", envelope.kind or "request")
            return BoltResponse(status=200, body="")
        if key is not None:
            work.hold(parts.deliveries.first(key), name="delivery.first")
        await next()
        return None

    edge = Edge(parts, client)
    modal = ModalListeners(edge)
    home = HomeListeners(edge)
    for surface in (
        CommandListeners(edge, modal),
        DecisionListeners(edge, home),
        PlanButtonListeners(edge, modal),
        modal,
        home,
    ):
        surface.register(app)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)

    return app


def repair_form_body(request: AsyncBoltRequest) -> AsyncBoltRequest:
    """Re-read a form-encoded body that Bolt misread, in place; returns ``request``.

    Bolt (1.30, ``parse_body``) takes any form body whose raw text contains ``payload`` for an
    interaction and, finding no ``payload`` field, reads it as empty: a slash command mentioning
    the word (``/vro status payload-db``, a channel or user named so) reaches no listener and
    Slack gets a 404. The form is parsed here as Slack sends it: a ``payload`` field holding
    JSON (interactions), or plain fields (slash commands). The signature is still checked
    against the raw body, which is left untouched.
    """
    if request.body or not request.raw_body or request.content_type != "application/x-www-form-urlencoded":
        return request
    fields = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "payload" in fields:
        return request  # a real interaction that Bolt found empty: nothing to repair
    request.body = fields
    request.context = build_async_context(AsyncBoltContext(), fields)
    return request
