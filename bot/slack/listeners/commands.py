"""``/vro``, and the Prev / Next buttons that show another page of a listing."""

from __future__ import annotations

from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.approvals import messages as approval_messages
from bot.approvals.outcomes import Refusal
from bot.slack.access import Refused
from bot.slack.blocks.kit import ActionId, parse_page_value
from bot.slack.blocks.replies import error_message
from bot.slack.controller import Invoker, Reply
from bot.slack.grammar import COMMAND, Kind, ParsedCommand, ParseError, parse
from bot.slack.listeners.edge import Edge, delivery_key, notice
from bot.slack.listeners.modal import ModalListeners
from bot.slack.payloads import Click, Command

ACTION_ACK: Final = "Checking *{plan}* with VRO…"
STALE_PAGE_BUTTON: Final = "That page button is out of date. Run the command again."


class CommandListeners:
    """The slash command: parse and ack at once; blank text opens the form."""

    def __init__(self, edge: Edge, modal: ModalListeners) -> None:
        self.edge = edge
        self.modal = modal

    def register(self, app: AsyncApp) -> None:
        app.command(COMMAND)(self.on_command)
        app.action(ActionId.PAGE_PREV.value)(self.on_page)
        app.action(ActionId.PAGE_NEXT.value)(self.on_page)

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        command = Command.from_body(body)
        parts = self.edge.parts
        user, channel = command.user, command.channel
        if not parts.access.channel_allowed(channel):
            await ack(text=approval_messages.CHANNEL_NOT_ALLOWED)
            refused = Refused(Refusal.CHANNEL, approval_messages.CHANNEL_NOT_ALLOWED)
            parts.work.spawn(
                parts.access.record(user, refused, surface="command", channel=channel), name="audit.refusal"
            )
            return
        if not command.text.strip():
            await ack()
            parts.work.spawn(self.modal.open(user, channel, command.trigger_id), name="modal.open")
            return
        parsed = parse(command.text, now=parts.clock.now())
        if isinstance(parsed, ParseError):
            message = error_message(parsed)
            await ack(text=message.text, blocks=message.blocks)
            return
        who = Invoker(user, channel, response_url=command.response_url, trigger_id=command.trigger_id or None)
        reply = self.edge.responder(channel, user, who.response_url)
        if parsed.action is not None and parsed.plan:
            # A command that creates a request is written down before the ack: if the process
            # dies before the request exists, the person is told after the restart.
            inbox_id = (
                await parts.inbox.received(
                    user=user,
                    channel=channel,
                    text=command.text,
                    response_url=who.response_url,
                    key=delivery_key(context),
                )
                if parts.inbox is not None
                else None
            )
            await ack(text=ACTION_ACK.format(plan=parsed.plan))
            parts.work.spawn(self._request(who, parsed, reply, inbox_id), name=f"command.{parsed.verb}")
            return
        await ack()
        parts.work.spawn(parts.controller.command(who, parsed, reply), name=f"command.{parsed.verb}")

    async def _request(self, who: Invoker, parsed: ParsedCommand, reply: Reply, inbox_id: str | None) -> None:
        parts = self.edge.parts
        await parts.controller.command(who, parsed, reply)  # answers every outcome itself
        # Not in a ``finally``: work cancelled at shutdown stays open, and is owned up to later.
        if parts.inbox is not None and inbox_id is not None:
            await parts.inbox.done(inbox_id)

    async def on_page(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Prev / Next: run the listing again (as the clicker) and show the page asked for."""
        await ack()
        click = Click.from_body(body)
        parts = self.edge.parts
        request = parse_page_value(click.value)
        reply = self.edge.responder(click.channel, click.user, click.response_url)
        parsed = parse(request.command, now=parts.clock.now()) if request is not None else None
        if request is None or parsed is None or isinstance(parsed, ParseError) or parsed.kind is Kind.ACTION:
            # A page button only ever pages through a list; it never asks for an action.
            parts.work.spawn(notice(reply, STALE_PAGE_BUTTON), name="page.broken")
            return
        who = Invoker(click.user, click.channel, response_url=click.response_url)
        parts.work.spawn(parts.controller.command(who, parsed, reply, page=request.page), name="page")
