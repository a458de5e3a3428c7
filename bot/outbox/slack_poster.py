""":class:`SlackPoster` over ``slack_sdk``'s ``AsyncWebClient`` (the real thing, or the sandbox).

The client must not retry on its own: the outbox decides when to retry and looks a message up
before re-posting it, which an SDK-level retry would bypass. :meth:`SlackWebPoster.from_token`
builds a client without retry handlers; pass your own client only if it has none either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox.poster import SlackDeliveryError, TransientError, classify, metadata_key, outbox_metadata

HISTORY_PAGE_SIZE = 200
MAX_LOOKUP_PAGES = 10


class SlackWebPoster:
    """Posts, edits and finds bot messages through the Slack Web API."""

    def __init__(self, *, client: AsyncWebClient) -> None:
        self._client = client

    @classmethod
    def from_token(
        cls, token: str, *, base_url: str = "https://slack.com/api/", timeout: int = 30
    ) -> SlackWebPoster:
        """A poster with its own client (no SDK retries; the outbox retries)."""
        return cls(client=AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[]))

    async def post_message(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None,
        thread_ts: str | None,
        reply_broadcast: bool,
        key: str,
    ) -> str:
        kwargs: dict[str, Any] = {"channel": channel, "text": text, "metadata": outbox_metadata(key)}
        if blocks:
            kwargs["blocks"] = [dict(b) for b in blocks]
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
            if reply_broadcast:
                kwargs["reply_broadcast"] = True
        response = await self._call(self._client.chat_postMessage(**kwargs))
        ts = response.get("ts")
        if not isinstance(ts, str):
            raise TransientError("no_ts_in_response")
        return ts

    async def update_message(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None, key: str
    ) -> None:
        kwargs: dict[str, Any] = {
            "channel": channel,
            "ts": ts,
            "text": text,
            "metadata": outbox_metadata(key),
        }
        if blocks:
            kwargs["blocks"] = [dict(b) for b in blocks]
        await self._call(self._client.chat_update(**kwargs))

    async def find_by_metadata(
        self, *, channel: str, key: str, thread_ts: str | None, oldest: datetime | None
    ) -> str | None:
        cursor: str | None = None
        for _ in range(MAX_LOOKUP_PAGES):
            kwargs: dict[str, Any] = {
                "channel": channel,
                "include_all_metadata": True,
                "limit": HISTORY_PAGE_SIZE,
            }
            if oldest is not None:
                kwargs["oldest"] = f"{oldest.timestamp():.6f}"
            if cursor:
                kwargs["cursor"] = cursor
            if thread_ts is not None:
                response = await self._call(self._client.conversations_replies(ts=thread_ts, **kwargs))
            else:
                response = await self._call(self._client.conversations_history(**kwargs))
            for message in response.get("messages") or ():
                if isinstance(message, Mapping) and metadata_key(message) == key:
                    found = message.get("ts")
                    return found if isinstance(found, str) else None
            meta = response.get("response_metadata") or {}
            cursor = meta.get("next_cursor") if isinstance(meta, Mapping) else None
            if not cursor:
                return None
        return None

    async def _call(self, call: Any) -> Mapping[str, Any]:
        try:
            response = await call
        except SlackApiError as exc:
            raise _from_api_error(exc) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(type(exc).__name__) from None
        data = response.data
        return data if isinstance(data, Mapping) else {}


def _from_api_error(exc: SlackApiError) -> SlackDeliveryError:
    response = exc.response
    status = getattr(response, "status_code", None)
    error = "unknown_error"
    try:
        value = response.get("error")
        if isinstance(value, str):
            error = value
    except (AttributeError, TypeError):
        pass
    retry_after: float | None = None
    headers = getattr(response, "headers", None) or {}
    for name, value in dict(headers).items():
        if name.lower() == "retry-after":
            try:
                retry_after = float(value[0] if isinstance(value, list) else value)
            except (TypeError, ValueError):
                retry_after = None
    return classify(error, status=status, retry_after=retry_after)
