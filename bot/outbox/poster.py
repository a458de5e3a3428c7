"""The three Slack calls the outbox makes, and how their failures are classified.

:class:`SlackPoster` is the seam: ``bot.outbox.slack_poster.SlackWebPoster`` implements it over
``slack_sdk``'s ``AsyncWebClient``; tests use the same class against the sandbox Slack server.

Failures come back as one of three errors, because the sender treats them differently:

    SlackDeliveryError
    ├── RateLimited       429: wait for Retry-After, then try again (never gives up)
    ├── TransientError    5xx, network, timeouts: back off with jitter, a bounded number of times
    └── PermanentError    Slack said no for good (not_in_channel, invalid_blocks, ...): record it
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

METADATA_EVENT_TYPE = "vro_outbox"

# Errors that no retry can fix. Those in CHANNEL_ERRORS doom every message of the channel.
CHANNEL_ERRORS: frozenset[str] = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "team_access_not_granted"}
)
PERMANENT_ERRORS: frozenset[str] = CHANNEL_ERRORS | frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "thread_not_found",
        "invalid_thread_ts",
        "duplicate_message_not_found",
    }
)
TRANSIENT_ERRORS: frozenset[str] = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackDeliveryError(Exception):
    """Slack did not take the message. ``error`` is Slack's error code (or a short reason)."""

    def __init__(self, error: str, *, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


class RateLimited(SlackDeliveryError):
    """HTTP 429: Slack asks us to wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float, *, error: str = "ratelimited") -> None:
        super().__init__(error, status=429)
        self.retry_after = retry_after


class TransientError(SlackDeliveryError):
    """A 5xx, a network error or a timeout: the message may or may not have been posted."""


class PermanentError(SlackDeliveryError):
    """Slack refused the message for a reason no retry fixes."""

    @property
    def channel_wide(self) -> bool:
        """True when every message of the channel will fail the same way."""
        return self.error in CHANNEL_ERRORS


def classify(
    error: str, *, status: int | None = None, retry_after: float | None = None
) -> SlackDeliveryError:
    """The right :class:`SlackDeliveryError` for a Slack error code and HTTP status."""
    if status == 429 or error == "ratelimited":
        return RateLimited(retry_after if retry_after is not None else 1.0)
    if error in PERMANENT_ERRORS:
        return PermanentError(error, status=status)
    if (status is not None and status >= 500) or error in TRANSIENT_ERRORS:
        return TransientError(error, status=status)
    # An error code we do not know: retried a bounded number of times, then recorded.
    return TransientError(error, status=status)


def outbox_metadata(key: str) -> dict[str, Any]:
    """The message metadata that carries an outbox key, so a lost ``ts`` can be found again."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": key}}


def metadata_key(message: Mapping[str, Any]) -> str | None:
    """The outbox key in a message returned by conversations.history / replies, if any."""
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    if not isinstance(payload, Mapping):
        return None
    key = payload.get("key")
    return key if isinstance(key, str) else None


class SlackPoster(Protocol):
    """Post, edit, and find again (by outbox key) a bot message."""

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
        """Post and return the message ``ts``; ``key`` travels in the message metadata."""
        ...

    async def update_message(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None, key: str
    ) -> None:
        """Replace the text and blocks of the message ``ts``."""
        ...

    async def find_by_metadata(
        self, *, channel: str, key: str, thread_ts: str | None, oldest: datetime | None
    ) -> str | None:
        """The ``ts`` of the bot message carrying ``key``, in the thread or the channel; or None."""
        ...
