"""What a call to Slack's Web API can raise, and how a log line or a message names it."""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp
from slack_sdk.errors import SlackClientError

SLACK_CALL_ERRORS: Final = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)
"""Slack answered ``ok: false`` (``SlackApiError``), the SDK could not send the request, or the
network failed or timed out. Anything else raised around a Slack call is a bug and propagates
to the listener's error handler."""


def slack_error(exc: BaseException) -> str:
    """Slack's error code from a ``SlackApiError`` (or the exception's type name)."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return str(response["error"])
        except (KeyError, TypeError):
            pass
    return type(exc).__name__
