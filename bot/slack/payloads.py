"""Slack requests as typed values, read once at the edge.

Each listener turns Bolt's ``body`` into one of these models on arrival and works with its
fields; nothing past the edge reaches into payload dicts. The reading is lenient on purpose:
a correctly signed request can still carry a missing or odd field (an old button, a client
bug, a fuzzer), and such a field reads as empty so the listener can answer kindly instead of
failing. Nothing here is trusted beyond its shape: a button's ``value`` is still only an
opaque id or a page request, checked by whoever uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True)


class Command(_Payload):
    """A ``/vro`` slash command (form fields)."""

    user: str
    channel: str
    text: str
    trigger_id: str
    response_url: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            user=text_of(body.get("user_id")),
            channel=text_of(body.get("channel_id")),
            text=text_of(body.get("text")),
            trigger_id=text_of(body.get("trigger_id")),
            response_url=text_of(body.get("response_url")) or None,
        )


class Click(_Payload):
    """A click on one of our buttons (``block_actions``): who, where, which element, its value."""

    user: str
    channel: str
    action_id: str
    value: str
    trigger_id: str
    response_url: str | None
    in_view: bool
    """The button sits in a view (the Home tab, a modal) rather than in a message."""
    view: Mapping[str, Any]
    """The view the click came from (empty for a message button)."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        container = mapping_of(body.get("container"))
        actions = body.get("actions")
        action = mapping_of(actions[0]) if isinstance(actions, Sequence) and actions else {}
        return cls(
            user=user_of(body),
            channel=text_of(mapping_of(body.get("channel")).get("id"))
            or text_of(container.get("channel_id")),
            action_id=text_of(action.get("action_id")),
            value=text_of(action.get("value")),
            trigger_id=text_of(body.get("trigger_id")),
            response_url=text_of(body.get("response_url")) or None,
            in_view=container.get("type") == "view",
            view=mapping_of(body.get("view")),
        )

    @property
    def view_id(self) -> str:
        return text_of(self.view.get("id"))

    @property
    def view_hash(self) -> str:
        return text_of(self.view.get("hash"))


class Submission(_Payload):
    """A submitted modal (``view_submission``)."""

    user: str
    view: Mapping[str, Any]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(user=user_of(body), view=mapping_of(body.get("view")))


class Suggestion(_Payload):
    """What someone typed into an external select (``block_suggestion``)."""

    user: str
    query: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        return cls(user=user_of(body), query=text_of(body.get("value")))


class HomeOpened(_Payload):
    """``app_home_opened``: who opened which tab, and the delivery's id."""

    user: str
    tab: str
    event_id: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        event = mapping_of(body.get("event"))
        return cls(
            user=text_of(event.get("user")),
            tab=text_of(event.get("tab")) or "home",
            event_id=text_of(body.get("event_id")),
        )


def user_of(body: Mapping[str, Any]) -> str:
    """The acting user of any request: a command's ``user_id``, an interaction's ``user.id``,
    an event's ``event.user``."""
    return (
        text_of(body.get("user_id"))
        or text_of(mapping_of(body.get("user")).get("id"))
        or text_of(mapping_of(body.get("event")).get("user"))
    )


def text_of(value: object) -> str:
    """A payload field as text; absent, null or structured values read as empty."""
    if value is None or isinstance(value, Mapping | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def mapping_of(value: object) -> Mapping[str, Any]:
    """A payload field as a mapping; anything else reads as empty."""
    return value if isinstance(value, Mapping) else {}
