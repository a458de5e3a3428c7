"""Approve and Deny (on an approval card in a channel, or in the Home tab), and Send on a held
request's card."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.approvals.outcomes import Outcome
from bot.slack.blocks.kit import ActionId
from bot.slack.controller import Invoker
from bot.slack.listeners.edge import BROKEN_BUTTON, REQUEST_ID_RE, Edge, notice, refuse_broken_button
from bot.slack.listeners.home import HomeListeners
from bot.slack.payloads import Click


class DecisionListeners:
    """A click is checked and recorded by the controller; the button's value is only a request id."""

    def __init__(self, edge: Edge, home: HomeListeners) -> None:
        self.edge = edge
        self.home = home

    def register(self, app: AsyncApp) -> None:
        app.action(ActionId.APPROVE.value)(self.on_approve)
        app.action(ActionId.DENY.value)(self.on_deny)
        app.action(ActionId.SEND.value)(self.on_send)

    async def on_approve(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._decide(ack, Click.from_body(body), approve=True)

    async def on_deny(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await self._decide(ack, Click.from_body(body), approve=False)

    async def _decide(self, ack: AsyncAck, click: Click, *, approve: bool) -> None:
        """A click acknowledged is a click recorded: the decision is stored before the ack."""
        parts = self.edge.parts
        if not REQUEST_ID_RE.match(click.value):
            surface = "button.approve" if approve else "button.deny"
            await refuse_broken_button(parts, click.user, click.value, surface=surface)
            await ack()
            reply = self.edge.responder(click.channel, click.user, click.response_url)
            parts.work.spawn(notice(reply, BROKEN_BUTTON), name="decision.broken")
            return
        if click.in_view:
            # From the Home tab: no channel and no response_url here. Answer in the card's channel
            # and redraw the tab, so the decided request is no longer offered.
            request = await parts.approvals.get(click.value)
            channel = (request.card_channel or request.channel) if request is not None else click.channel
            who = Invoker(click.user, channel)
            known = request is not None
            outcome = await parts.controller.record_decision(who, click.value, approve) if known else None
            await ack()
            parts.work.spawn(self._after_home_decision(who, outcome, known), name="decision.home")
            return
        who = Invoker(click.user, click.channel, response_url=click.response_url)
        outcome = await parts.controller.record_decision(who, click.value, approve)
        await ack()
        reply = self.edge.responder(click.channel, click.user, click.response_url)
        parts.work.spawn(parts.controller.after_decision(who, outcome, reply), name="decision")

    async def _after_home_decision(self, who: Invoker, outcome: Outcome | None, known: bool) -> None:
        if known:
            reply = self.edge.responder(who.channel_id, who.user_id, None)
            await self.edge.parts.controller.after_decision(who, outcome, reply)
        await self.home.publish(who.user_id)

    async def on_send(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Send on a held request's card: checked again (policy, approvals, plan) before sending."""
        await ack()
        click = Click.from_body(body)
        parts = self.edge.parts
        reply = self.edge.responder(click.channel, click.user, click.response_url)
        if not REQUEST_ID_RE.match(click.value):
            await refuse_broken_button(parts, click.user, click.value, surface="button.send")
            parts.work.spawn(notice(reply, BROKEN_BUTTON), name="send.broken")
            return
        who = Invoker(click.user, click.channel, response_url=click.response_url)
        parts.work.spawn(parts.controller.send_held(who, click.value, reply), name="send")
