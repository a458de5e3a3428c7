"""Answering the person who typed or clicked.

Slash commands and message buttons carry a ``response_url``; replies go there (ephemeral by
default, which also works in channels the bot has not joined). When ``SLACK_API_URL`` points
somewhere other than Slack (a proxy, the sandbox), URLs on ``hooks.slack.com`` are sent to the
same host instead, so that every call the bot makes goes where the operator said.
Without a ``response_url`` (modals, App Home) the answer is an ephemeral message in the channel.
A public answer that cannot go through the ``response_url`` is a message to the channel, so it
goes through the outbox (``post_public``), paced and retried like every other; an ephemeral one
is for one person and goes straight to ``chat.postEphemeral``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.blocks.kit import Message
from bot.slack.errors import SLACK_CALL_ERRORS

log = logging.getLogger(__name__)

SLACK_HOOKS_HOST = "hooks.slack.com"
SLACK_API_HOST = "slack.com"


def route_response_url(url: str, slack_api_url: str) -> str:
    """``url`` as the bot should call it, given ``SLACK_API_URL``."""
    if urlsplit(slack_api_url).hostname == SLACK_API_HOST:
        return url
    target = urlsplit(url)
    if target.hostname != SLACK_HOOKS_HOST:
        return url
    api = urlsplit(slack_api_url)
    return urlunsplit((api.scheme, api.netloc, target.path, target.query, ""))


class Responder:
    """A :class:`bot.slack.controller.Reply` bound to one request."""

    def __init__(
        self,
        *,
        slack_api_url: str,
        client: Any,
        channel: str,
        user: str,
        response_url: str | None,
        post_public: Callable[[str, Message], Awaitable[None]] | None = None,
    ) -> None:
        self._url = route_response_url(response_url, slack_api_url) if response_url else None
        self._client = client
        self._channel = channel
        self._user = user
        self._post_public = post_public

    async def __call__(self, message: Message, *, public: bool = False) -> None:
        if self._url is not None:
            try:
                hook = AsyncWebhookClient(self._url)
                response = await hook.send(
                    text=message.text,
                    blocks=message.blocks,
                    response_type="in_channel" if public else "ephemeral",
                    replace_original=False,
                )
            except (
                SLACK_CALL_ERRORS
            ) as exc:  # the hook is unreachable or timed out: the Web API may still work
                log.warning("response_url unreachable (%s); falling back to the Web API", type(exc).__name__)
            else:
                if response.status_code < 300:
                    return
                log.warning("response_url answered %s; falling back to the Web API", response.status_code)
        if public and self._post_public is not None:
            await self._post_public(self._channel, message)
        elif public:
            await self._client.chat_postMessage(
                channel=self._channel, text=message.text, blocks=message.blocks
            )
        else:
            await self._client.chat_postEphemeral(
                channel=self._channel, user=self._user, text=message.text, blocks=message.blocks
            )
