"""The Bolt app: listeners that parse, ack at once, and hand the rest to the controller.

``build_app`` registers every listener with its collaborators closed over; there is no
module-level app. Before any listener runs, two global middlewares read the request once into
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

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals import messages as approval_messages
from bot.approvals.membership import GroupLookupError, GroupResolver
from bot.approvals.outcomes import Outcome, Refusal
from bot.approvals.policy import QUERY_ROLE, Policy
from bot.approvals.service import ApprovalService, groups_unavailable
from bot.clock import Clock
from bot.observability.logging import start_request
from bot.slack.access import ASK_FOR_ACCESS, Access, Refused
from bot.slack.blocks.approvals import ApprovalCardView
from bot.slack.blocks.home import access_home_view, home_view
from bot.slack.blocks.kit import (
    MODAL_CALLBACK_ID,
    PLAN_ACTION_PATTERN,
    ActionId,
    parse_page_value,
)
from bot.slack.blocks.modal import (
    ModalErrors,
    ModalPlan,
    access_modal,
    command_modal,
    parse_modal_submission,
    plan_suggestions,
    read_modal_state,
)
from bot.slack.blocks.replies import error_message, notice_message
from bot.slack.controller import Controller, Invoker, slack_error
from bot.slack.deliveries import DeliveryLog, is_retry
from bot.slack.grammar import VERB_FOR_ACTION, VERBS, Kind, ParseError, parse
from bot.slack.origin import COMMAND as COMMAND_KIND
from bot.slack.origin import BotIdentity, Envelope, IdentityUnknown, foreign_reason
from bot.slack.respond import Responder
from bot.slack.work import BackgroundWork
from bot.vro import plan_states
from bot.vro.errors import VroError
from bot.vro.operations import available_actions

log = logging.getLogger(__name__)

COMMAND = "/vro"
HOME_OPENED = "app_home_opened"
EVENTS = frozenset({HOME_OPENED})
"""Every Events API event the app listens to (``app-manifest.yml`` subscribes to exactly these)."""
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PLAN_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# ``vro_action:<verb>`` (plan detail) and ``vro_action:continue:<option>`` (halt notices).
PLAN_BUTTON_RE = re.compile(PLAN_ACTION_PATTERN)
BROKEN_BUTTON = "That button doesn't carry a request I recognise. Run `/vro approvals` to see the open ones."
ACTION_ACK = "Checking *{plan}* with VRO before asking for approval…"
MODAL_UNAVAILABLE = "I couldn't open the form ({error}). Type the command instead, e.g. `/vro help`."
DIRECT_ACTIONS = frozenset({"continue", "undo", "check"})  # plan buttons that request without the form
STALE_PAGE_BUTTON = "That page button is out of date. Run the command again."
FOREIGN_WORKSPACE = "This VRO bot belongs to another Slack workspace, so it can't act on requests from here."
IDENTITY_UNKNOWN = (
    "The VRO bot can't confirm which Slack workspace it serves right now. Try again in a minute."
)


@dataclass(frozen=True)
class SlackAppParts:
    """What the listeners need; built by the composition root."""

    controller: Controller
    approvals: ApprovalService
    policy: Policy
    groups: GroupResolver
    access: Access
    identity: BotIdentity
    deliveries: DeliveryLog
    work: BackgroundWork
    clock: Clock
    slack_api_url: str


def build_app(
    parts: SlackAppParts,
    *,
    client: AsyncWebClient,
    signing_secret: str | None,
    request_verification: bool = True,
) -> AsyncApp:
    """A Bolt ``AsyncApp`` for ``/vro``, approval buttons, the modal and the App Home."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "socket-mode-has-no-signing-secret",
        process_before_response=True,
        request_verification_enabled=request_verification,
        raise_error_for_unhandled_request=False,
        ignoring_self_events_enabled=True,
    )
    controller, policy, work, clock = parts.controller, parts.policy, parts.work, parts.clock
    access = parts.access

    def responder(channel: str, user: str, response_url: str | None) -> Responder:
        return Responder(
            slack_api_url=parts.slack_api_url,
            client=client,
            channel=channel,
            user=user,
            response_url=response_url,
        )

    @app.middleware
    async def bind_request(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
        """One request id per command, click or event, on every log line it causes (after the ack too).

        Bolt runs listeners after the middleware chain has returned, in the same task, so the
        context is bound here (replacing the previous request's) rather than in a ``with`` block;
        the work spawned by the listener copies it.
        """
        user = (
            body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
        )
        kind = body.get("command") or body.get("type") or "request"
        start_request(user=user, kind=kind, channel=body.get("channel_id"))
        await next()

    @app.middleware
    async def from_our_workspace(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Refuse, before any work, what another workspace, enterprise or app sends."""
        envelope = Envelope.from_body(body)
        context["envelope"] = envelope
        work.hold(None)  # a new request: nothing held yet
        try:
            ours = await parts.identity.workspace()
        except IdentityUnknown as exc:
            log.error("refused a request: the bot's own workspace is unknown (%s)", exc)
            return BoltResponse(status=503, body=IDENTITY_UNKNOWN)
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
        # A command's answer is shown to the person; other kinds get a plain refusal.
        return BoltResponse(status=200 if envelope.kind == COMMAND_KIND else 403, body=FOREIGN_WORKSPACE)

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

    # --- the slash command -------------------------------------------------------------

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        user = str(body.get("user_id", ""))
        channel = str(body.get("channel_id", ""))
        text = str(body.get("text", "") or "")
        if not access.channel_allowed(channel):
            await ack(text=approval_messages.CHANNEL_NOT_ALLOWED)
            refused = Refused(Refusal.CHANNEL, approval_messages.CHANNEL_NOT_ALLOWED)
            work.spawn(access.record(user, refused, surface="command", channel=channel), name="audit.refusal")
            return
        if not text.strip():
            await ack()
            work.spawn(_open_modal(user, channel, str(body.get("trigger_id", ""))), name="modal.open")
            return
        parsed = parse(text, now=clock.now())
        if isinstance(parsed, ParseError):
            message = error_message(parsed)
            await ack(text=message.text, blocks=message.blocks)
            return
        who = Invoker(user, channel, response_url=body.get("response_url"), trigger_id=body.get("trigger_id"))
        if parsed.action is not None and parsed.plan:
            await ack(text=ACTION_ACK.format(plan=parsed.plan))
        else:
            await ack()
        reply = responder(channel, user, who.response_url)
        work.spawn(controller.command(who, parsed, reply), name=f"command.{parsed.verb}")

    # --- approval buttons --------------------------------------------------------------

    async def on_decision(ack: AsyncAck, body: dict[str, Any], approve: bool) -> None:
        """A click acknowledged is a click recorded: the decision is stored before the ack."""
        user = str(body.get("user", {}).get("id", ""))
        channel = _channel_of(body)
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        if not REQUEST_ID_RE.match(value):
            await ack()
            reply = responder(channel, user, body.get("response_url"))
            work.spawn(_notice(reply, BROKEN_BUTTON), name="decision.broken")
            return
        if (body.get("container") or {}).get("type") == "view":
            # From the Home tab: no channel and no response_url here. Answer in the card's channel
            # and redraw the tab, so the decided request is no longer offered.
            request = await parts.approvals.get(value)
            channel = (request.card_channel or request.channel) if request is not None else channel
            who = Invoker(user, channel)
            outcome = await controller.record_decision(who, value, approve) if request is not None else None
            await ack()
            work.spawn(_after_home_decision(who, outcome, request is not None), name="decision.home")
            return
        who = Invoker(user, channel, response_url=body.get("response_url"))
        outcome = await controller.record_decision(who, value, approve)
        await ack()
        reply = responder(channel, user, body.get("response_url"))
        work.spawn(controller.after_decision(who, outcome, reply), name="decision")

    async def _after_home_decision(who: Invoker, outcome: Outcome | None, known: bool) -> None:
        if known:
            await controller.after_decision(who, outcome, responder(who.channel_id, who.user_id, None))
        await publish_home(who.user_id)

    @app.action(ActionId.SEND.value)
    async def on_send(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Send on a held request's card: checked again (policy, approvals, plan) before sending."""
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = _channel_of(body)
        value = str((body.get("actions") or [{}])[0].get("value", ""))
        reply = responder(channel, user, body.get("response_url"))
        if not REQUEST_ID_RE.match(value):
            work.spawn(_notice(reply, BROKEN_BUTTON), name="send.broken")
            return
        who = Invoker(user, channel, response_url=body.get("response_url"))
        work.spawn(controller.send_held(who, value, reply), name="send")

    @app.action(ActionId.APPROVE.value)
    async def on_approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await on_decision(ack, body, approve=True)

    @app.action(ActionId.DENY.value)
    async def on_deny(ack: AsyncAck, body: dict[str, Any]) -> None:
        await on_decision(ack, body, approve=False)

    # --- plan buttons (plan detail, halt notices): open the form for that plan and verb --

    @app.action(PLAN_BUTTON_RE)
    async def on_plan_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        verb, plan_id, option = _plan_button(str(action.get("action_id", "")), str(action.get("value", "")))
        user = str(body.get("user", {}).get("id", ""))
        channel = _channel_of(body)
        reply = responder(channel, user, body.get("response_url"))
        spec = VERBS.get(verb)
        if spec is None or not PLAN_ID_RE.match(plan_id):
            work.spawn(_notice(reply, BROKEN_BUTTON), name="plan.broken")
            return
        who = Invoker(user, channel, response_url=body.get("response_url"))
        reason_required = bool(spec.policy_verb and policy.rule(spec.policy_verb).reason_required)
        if spec.kind is not Kind.ACTION or (verb in DIRECT_ACTIONS and not reason_required):
            # A view button (status, groups, watch, ...) is answered like the typed command; a
            # halt notice's Continue / Undo and "Run readiness check now" ask at once (the card
            # follows; the check is its own request under the policy).
            text = f"{verb} {plan_id}" + (f" {option}" if verb == "continue" and option else "")
            parsed = parse(text, now=clock.now())
            if isinstance(parsed, ParseError):
                work.spawn(_notice(reply, parsed.render()), name="plan.broken")
                return
            work.spawn(controller.command(who, parsed, reply), name=f"plan.{verb}")
            return
        forms = [f.action for f in spec.forms if f.action]
        work.spawn(
            _open_modal(
                user,
                channel,
                str(body.get("trigger_id", "")),
                plan_id=plan_id,
                action=forms[0] if forms else None,
            ),
            name="modal.open",
        )

    # --- pagination --------------------------------------------------------------------

    async def on_page(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        request = parse_page_value(str(action.get("value", "")))
        user = str(body.get("user", {}).get("id", ""))
        channel = _channel_of(body)
        reply = responder(channel, user, body.get("response_url"))
        parsed = parse(request.command, now=clock.now()) if request is not None else None
        if request is None or parsed is None or isinstance(parsed, ParseError) or parsed.kind is Kind.ACTION:
            # A page button only ever pages through a list; it never asks for an action.
            work.spawn(_notice(reply, STALE_PAGE_BUTTON), name="page.broken")
            return
        who = Invoker(user, channel, response_url=body.get("response_url"))
        work.spawn(controller.command(who, parsed, reply, page=request.page), name="page")

    app.action(ActionId.PAGE_PREV.value)(on_page)
    app.action(ActionId.PAGE_NEXT.value)(on_page)

    # --- the modal ---------------------------------------------------------------------

    async def _open_modal(
        user: str, channel: str, trigger_id: str, *, plan_id: str | None = None, action: str | None = None
    ) -> None:
        # A trigger_id is good for 3 s and VRO may be slower: open the form at once, then fill
        # in the plan with views.update. Someone who may not read here gets the access view.
        refused = await access.refuse_read(user, surface="form", channel=channel)
        form = command_modal(channel_id=channel) if refused is None else access_modal(_ask(refused))
        try:
            opened = await client.views_open(trigger_id=trigger_id, view=form)
        except Exception as exc:
            error = slack_error(exc)
            log.warning("views.open failed: %s", error)
            await _notice(responder(channel, user, None), MODAL_UNAVAILABLE.format(error=error))
            return
        if plan_id is None or refused is not None:
            return
        try:
            view = await _modal_view(channel, plan_id=plan_id, action=action)
        except VroError as exc:
            log.warning("the form for plan %s stays without it: %s", plan_id, exc)
            return
        shown = opened.get("view") or {}
        try:
            await client.views_update(view_id=shown.get("id"), hash=shown.get("hash"), view=view)
        except Exception as exc:  # the person changed the form meanwhile: their choice wins
            log.info("the form was not filled in: %s", slack_error(exc))

    async def _modal_view(channel: str, *, plan_id: str | None, action: str | None) -> dict[str, Any]:
        if plan_id is None:
            return command_modal(channel_id=channel)
        plan = await controller.find_plan(plan_id)
        if plan is None:
            return command_modal(channel_id=channel)
        locations: list[Any] = []
        if action in ("Restore", "FailbackToProduction"):
            try:
                locations = list((await controller.vro.get_recovery_locations()).data)
            except VroError:
                locations = []
        reason_required = False
        if action is not None and action in VERB_FOR_ACTION:
            policy_verb = VERB_FOR_ACTION[action].policy_verb
            reason_required = bool(policy_verb and policy.rule(policy_verb).reason_required)
        state_allows = plan_states.allowed_actions(plan.planType or "", plan.state or "", plan.planMode or "")
        return command_modal(
            plan=ModalPlan.from_plan(
                plan, allowed=available_actions(state_allows, controller.vro.api_version)
            ),
            action=action,
            locations=locations,
            channel_id=channel,
            reason_required=reason_required,
        )

    async def on_modal_change(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = body.get("view") or {}
        state = read_modal_state(view)

        async def update() -> None:
            user = str(body.get("user", {}).get("id", ""))
            refused = await access.refuse_read(user, surface="form.plan")
            if refused is not None:
                new_view = access_modal(_ask(refused))
            else:
                new_view = await _modal_view(
                    state.channel_id or "", plan_id=state.plan_id, action=state.action
                )
            await client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=new_view)

        work.spawn(update(), name="modal.update")

    app.action(ActionId.MODAL_PLAN.value)(on_modal_change)
    app.action(ActionId.MODAL_ACTION.value)(on_modal_change)

    async def on_suggest(ack: AsyncAck, body: dict[str, Any]) -> None:
        query = str(body.get("value", "") or "")
        user = str(body.get("user", {}).get("id", ""))
        # Reading plan names posts nothing: the viewer role decides (the channel, at submission).
        if await access.refuse_read(user, surface="form.picker") is not None:
            await ack(options=[])
            return
        try:
            plans = await controller.plans()
        except VroError:
            await ack(options=[])
            return
        await ack(**plan_suggestions(plans, query))

    app.options(ActionId.MODAL_PLAN.value)(on_suggest)
    app.options(ActionId.MODAL_PREVIOUS_PLAN.value)(on_suggest)

    @app.view(MODAL_CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        parsed = parse_modal_submission(view, now=clock.now())
        if isinstance(parsed, ModalErrors):
            await ack(**parsed.response())
            return
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = read_modal_state(view).channel_id or ""
        if not access.channel_allowed(channel):
            refused = Refused(Refusal.CHANNEL, approval_messages.CHANNEL_NOT_ALLOWED)
            work.spawn(
                access.record(user, refused, surface="form.submit", channel=channel), name="audit.refusal"
            )
            return
        who = Invoker(user, channel)
        work.spawn(controller.command(who, parsed, responder(channel, user, None)), name="modal.submit")

    # --- App Home ----------------------------------------------------------------------

    async def publish_home(user: str) -> None:
        refused = await access.refuse_read(user, surface="home")
        if refused is not None:
            await client.views_publish(user_id=user, view=access_home_view(_ask(refused)))
            return
        problem = None
        plans: list[Any] = []
        try:
            plans = await controller.plans()
        except VroError as exc:
            problem = f"VRO can't be read right now: {exc}"
        decidable = []
        try:
            for request in await parts.approvals.pending():
                if request.requester == user or user in request.approvers:
                    continue
                if await policy.holds_any(user, request.approver_roles, parts.groups):
                    decidable.append(ApprovalCardView.from_request(request))
        except GroupLookupError as exc:
            decidable = []
            problem = groups_unavailable(exc, "list the requests waiting for you")
        view = home_view(
            plans=plans,
            approvals=decidable,
            updated_at=clock.now(),
            problem=problem,
            api_version=controller.vro.api_version,
        )
        await client.views_publish(user_id=user, view=view)

    @app.event(HOME_OPENED)
    async def on_home(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        work.spawn(publish_home(str(event.get("user", ""))), name="home.publish")

    @app.action(ActionId.HOME_REFRESH.value)
    async def on_home_refresh(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        work.spawn(publish_home(str(body.get("user", {}).get("id", ""))), name="home.refresh")

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


def _ask(refused: Refused) -> str:
    """What a locked view says: the role refusal becomes a short "ask for access"."""
    return ASK_FOR_ACCESS.format(role=QUERY_ROLE) if refused.code is Refusal.VIEWER_ROLE else refused.message


async def _notice(reply: Callable[..., Any], text: str) -> None:
    await reply(notice_message(text, emoji=":warning:"))


def _plan_button(action_id: str, value: str) -> tuple[str, str, str]:
    """(verb, plan id, option) of a plan button: ``vro_action:<verb>[:<option>]`` whose value is
    the plan id, or ``{"plan_id": ..., "option": ...}`` (the watcher's halt notices)."""
    _, _, rest = action_id.partition(":")
    verb, _, option = rest.partition(":")
    plan_id = value
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            data = {}
        plan_id = str(data.get("plan_id", "")) if isinstance(data, dict) else ""
        if not option and isinstance(data, dict) and data.get("option") not in (None, "Undo"):
            option = str(data["option"])
    return verb, plan_id, option


def _channel_of(body: dict[str, Any]) -> str:
    return str(
        (body.get("channel") or {}).get("id", "") or (body.get("container") or {}).get("channel_id", "")
    )
