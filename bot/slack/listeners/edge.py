"""What every listener shares: the app's parts, the Slack client, and how to answer someone."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.membership import GroupResolver
from bot.approvals.outcomes import Refusal
from bot.approvals.policy import QUERY_ROLE, Policy
from bot.approvals.service import ApprovalService
from bot.clock import Clock
from bot.slack.access import ASK_FOR_ACCESS, Access, Refused
from bot.slack.blocks.replies import notice_message
from bot.slack.controller import Controller, Reply
from bot.slack.deliveries import DeliveryLog
from bot.slack.inbox import CommandInbox
from bot.slack.message import Message
from bot.slack.origin import BotIdentity, Envelope
from bot.slack.respond import Responder
from bot.slack.work import BackgroundWork

REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PLAN_ID_RE: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_AUDITED_VALUE: Final = 100
BROKEN_BUTTON: Final = (
    "That button doesn't carry a request I recognise. Run `/vro approvals` to see the open ones."
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
    inbox: CommandInbox | None = None  # commands that create requests, written before the ack
    post_public: Callable[[str, Message], Awaitable[None]] | None = None
    """Queues a message to a channel in the outbox (a public answer the response_url refused)."""


@dataclass(frozen=True)
class Edge:
    """The parts and the Web API client, with the helpers every surface uses."""

    parts: SlackAppParts
    client: AsyncWebClient

    def responder(self, channel: str, user: str, response_url: str | None) -> Responder:
        """A reply to ``user`` (ephemeral unless public), through ``response_url`` when there is one."""
        return Responder(
            slack_api_url=self.parts.slack_api_url,
            client=self.client,
            channel=channel,
            user=user,
            response_url=response_url,
            post_public=self.parts.post_public,
        )


async def refuse_broken_button(parts: SlackAppParts, user: str, value: str, *, surface: str) -> None:
    """Audit a click whose button carries no request or plan the bot would have put there (a
    tampered or truncated payload): every refusal is on record, with a clip of what it carried."""
    await parts.access.record(
        user,
        Refused(Refusal.NOT_FOUND, BROKEN_BUTTON),
        surface=surface,
        value=value[:MAX_AUDITED_VALUE],
    )


def delivery_key(context: AsyncBoltContext) -> str | None:
    """The key the middleware recorded this delivery under (None when it has none)."""
    envelope = context.get("envelope")
    return envelope.delivery_key if isinstance(envelope, Envelope) else None


async def notice(reply: Reply, text: str) -> None:
    """A short warning to the person who clicked or typed."""
    await reply(notice_message(text, emoji=":warning:"))


def ask_for_access(refused: Refused) -> str:
    """What a locked view says: the role refusal becomes a short "ask for access"."""
    return ASK_FOR_ACCESS.format(role=QUERY_ROLE) if refused.code is Refusal.VIEWER_ROLE else refused.message
