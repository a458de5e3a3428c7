"""The command form (modal): opening it, filling in the chosen plan, plan suggestions, submission."""

from __future__ import annotations

import logging
from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.approvals import messages as approval_messages
from bot.approvals.outcomes import Refusal
from bot.slack.access import Refused
from bot.slack.blocks.kit import MODAL_CALLBACK_ID, ActionId
from bot.slack.blocks.modal import ModalErrors, ModalPlan, access_modal, command_modal, plan_suggestions
from bot.slack.blocks.modal_submission import parse_modal_submission, read_modal_state
from bot.slack.controller import Invoker, Reply
from bot.slack.errors import SLACK_CALL_ERRORS, slack_error
from bot.slack.grammar import VERB_FOR_ACTION, ParsedCommand
from bot.slack.listeners.edge import Edge, ask_for_access, delivery_key, notice
from bot.slack.payloads import Click, Submission, Suggestion
from bot.vro.errors import VroError

log = logging.getLogger(__name__)

MODAL_UNAVAILABLE: Final = "I couldn't open the form ({error}). Type the command instead, e.g. `/vro help`."
LOCATION_ACTIONS: Final = frozenset({"Restore", "FailbackToProduction"})


class ModalListeners:
    """The form's listeners, and :meth:`open` for the surfaces that open it."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def register(self, app: AsyncApp) -> None:
        app.action(ActionId.MODAL_PLAN.value)(self.on_change)
        app.action(ActionId.MODAL_ACTION.value)(self.on_change)
        app.options(ActionId.MODAL_PLAN.value)(self.on_suggest)
        app.options(ActionId.MODAL_PREVIOUS_PLAN.value)(self.on_suggest)
        app.view(MODAL_CALLBACK_ID)(self.on_submit)

    async def open(
        self,
        user: str,
        channel: str,
        trigger_id: str,
        *,
        plan_id: str | None = None,
        action: str | None = None,
    ) -> None:
        """Open the form for ``user``; with ``plan_id``, fill in that plan once VRO answers."""
        # A trigger_id is good for 3 s and VRO may be slower: open the form at once, then fill
        # in the plan with views.update. Someone who may not read here gets the access view.
        access, client = self.edge.parts.access, self.edge.client
        refused = await access.refuse_read(user, surface="form", channel=channel)
        form = command_modal(channel_id=channel) if refused is None else access_modal(ask_for_access(refused))
        try:
            opened = await client.views_open(trigger_id=trigger_id, view=form)
        except SLACK_CALL_ERRORS as exc:
            error = slack_error(exc)
            log.warning("views.open failed: %s", error)
            await notice(self.edge.responder(channel, user, None), MODAL_UNAVAILABLE.format(error=error))
            return
        if plan_id is None or refused is not None:
            return
        try:
            view = await self.view_for(channel, plan_id=plan_id, action=action)
        except VroError as exc:
            log.warning("the form for plan %s stays without it: %s", plan_id, exc)
            return
        shown = opened.get("view") or {}
        try:
            await client.views_update(view_id=shown.get("id"), hash=shown.get("hash"), view=view)
        except SLACK_CALL_ERRORS as exc:  # the person changed the form meanwhile: their choice wins
            log.info("the form was not filled in: %s", slack_error(exc))

    async def view_for(self, channel: str, *, plan_id: str | None, action: str | None) -> dict[str, Any]:
        """The form for ``plan_id`` and ``action`` (the plain form when the plan is unknown)."""
        controller, policy = self.edge.parts.controller, self.edge.parts.policy
        if plan_id is None:
            return command_modal(channel_id=channel)
        plan = await controller.find_plan(plan_id)
        if plan is None:
            return command_modal(channel_id=channel)
        locations: list[Any] = []
        if action in LOCATION_ACTIONS:
            try:
                locations = list((await controller.vro.get_recovery_locations()).data)
            except VroError:
                locations = []
        reason_required = False
        if action is not None and action in VERB_FOR_ACTION:
            policy_verb = VERB_FOR_ACTION[action].policy_verb
            reason_required = bool(policy_verb and policy.rule(policy_verb).reason_required)
        return command_modal(
            plan=ModalPlan.from_plan(plan),
            action=action,
            locations=locations,
            channel_id=channel,
            reason_required=reason_required,
        )

    async def on_change(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A plan or an action was picked: redraw the form for it."""
        await ack()
        click = Click.from_body(body)
        self.edge.parts.work.spawn(self._redraw(click), name="modal.update")

    async def _redraw(self, click: Click) -> None:
        state = read_modal_state(click.view)
        refused = await self.edge.parts.access.refuse_read(click.user, surface="form.plan")
        if refused is not None:
            new_view = access_modal(ask_for_access(refused))
        else:
            new_view = await self.view_for(state.channel_id or "", plan_id=state.plan_id, action=state.action)
        await self.edge.client.views_update(view_id=click.view_id, hash=click.view_hash, view=new_view)

    async def on_suggest(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Plan names matching what was typed into a plan picker."""
        suggestion = Suggestion.from_body(body)
        # Reading plan names posts nothing: the viewer role decides (the channel, at submission).
        if await self.edge.parts.access.refuse_read(suggestion.user, surface="form.picker") is not None:
            await ack(options=[])
            return
        try:
            plans = await self.edge.parts.controller.plans()
        except VroError:
            await ack(options=[])
            return
        await ack(**plan_suggestions(plans, suggestion.query))

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        """The form sent: errors go back into it; a valid command runs as if typed.

        A form that asks for an action is written down before the ack, as a typed command is: if
        the process dies before the request exists, the person is told after the restart (in an
        ephemeral message: a form has no response_url).
        """
        submission = Submission.from_body(body)
        parts = self.edge.parts
        parsed = parse_modal_submission(submission.view, now=parts.clock.now())
        if isinstance(parsed, ModalErrors):
            await ack(**parsed.response())
            return
        user = submission.user
        channel = read_modal_state(submission.view).channel_id or ""
        if not parts.access.channel_allowed(channel):
            await ack()
            refused = Refused(Refusal.CHANNEL, approval_messages.CHANNEL_NOT_ALLOWED)
            parts.work.spawn(
                parts.access.record(user, refused, surface="form.submit", channel=channel),
                name="audit.refusal",
            )
            return
        inbox_id = None
        if parsed.action is not None and parsed.plan and parts.inbox is not None:
            inbox_id = await parts.inbox.received(
                user=user, channel=channel, text=parsed.source, response_url=None, key=delivery_key(context)
            )
        await ack()
        reply = self.edge.responder(channel, user, None)
        parts.work.spawn(
            self._submitted(Invoker(user, channel), parsed, reply, inbox_id), name="modal.submit"
        )

    async def _submitted(
        self, who: Invoker, parsed: ParsedCommand, reply: Reply, inbox_id: str | None
    ) -> None:
        parts = self.edge.parts
        await parts.controller.command(who, parsed, reply)  # answers every outcome itself
        # Not in a ``finally``: work cancelled at shutdown stays open, and is owned up to later.
        if parts.inbox is not None and inbox_id is not None:
            await parts.inbox.done(inbox_id)
