"""The requests Slack sends to a bot, as the sandbox builds them: their kinds, the unsigned
:class:`SlackRequest`, and the ``state`` of a view a person filled in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from bot.sandbox.content import find_element
from bot.sandbox.models import (
    JsonDict,
    View,
)
from bot.sandbox.socket_mode import EnvelopeType

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
DEFAULT_PATH = "/slack/events"
VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105 - Slack's deprecated, unused field

RequestKind = Literal[
    "command",
    "block_actions",
    "view_submission",
    "view_closed",
    "block_suggestion",
    "event",
    "url_verification",
]
StateValue = str | Sequence[str] | None
ENVELOPE_TYPES: dict[RequestKind, EnvelopeType] = {
    "command": "slash_commands",
    "block_actions": "interactive",
    "view_submission": "interactive",
    "view_closed": "interactive",
    "block_suggestion": "interactive",
    "event": "events_api",
}


@dataclass(frozen=True)
class SlackRequest:
    """An unsigned request as Slack would send it; :meth:`SlackDriver.send` signs it."""

    kind: RequestKind
    body: bytes
    content_type: str
    payload: JsonDict
    """The parsed form of ``body`` (the form fields, or the JSON payload)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    response_url: str | None = None
    trigger_id: str | None = None


def _option(element: Mapping[str, Any], value: str) -> JsonDict:
    """The option object for ``value`` (its label from the element's static options, if any)."""
    options: list[Any] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return dict(option)
    return {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value}


def _element_state(element: Mapping[str, Any], value: StateValue) -> JsonDict:
    kind = str(element.get("type"))
    state: JsonDict = {"type": kind}
    single = value if isinstance(value, str) or value is None else (value[0] if value else None)
    many = [] if value is None else ([value] if isinstance(value, str) else list(value))
    if kind in ("static_select", "external_select", "radio_buttons"):
        state["selected_option"] = None if single is None else _option(element, single)
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        state["selected_options"] = [_option(element, v) for v in many]
    elif kind == "datepicker":
        state["selected_date"] = single
    elif kind == "timepicker":
        state["selected_time"] = single
    elif kind == "datetimepicker":
        state["selected_date_time"] = None if single is None else int(single)
    elif kind == "users_select":
        state["selected_user"] = single
    elif kind == "conversations_select":
        state["selected_conversation"] = single
    elif kind == "channels_select":
        state["selected_channel"] = single
    else:  # plain_text_input, number_input, email_text_input, url_text_input ...
        state["value"] = single
    return state


def view_state(view: Mapping[str, Any], values: Mapping[str, StateValue]) -> JsonDict:
    """``view.state.values`` for a submission: ``{block_id: {action_id: {...}}}``.

    Raises :class:`LookupError` for an action_id the view has no input for, so a test cannot
    submit a field the modal never showed.
    """
    state: JsonDict = {}
    known: set[str] = set()
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        action_id = str(element.get("action_id") or "")
        block_id = str(block.get("block_id") or action_id)
        known.add(action_id)
        state.setdefault(block_id, {})[action_id] = _element_state(element, values.get(action_id))
    unknown = set(values) - known
    if unknown:
        raise LookupError(f"the view has no input for {sorted(unknown)}; inputs: {sorted(known)}")
    return state


def _is_select(view: View, action_id: str) -> bool:
    found = find_element(view.view.get("blocks") or [], action_id)
    return found is not None and found[1].get("type") != "button"


def ack_as_response(ack: JsonDict | None) -> httpx.Response:
    """A Socket Mode ack as the HTTP answer Bolt gives for the same ``ack()``.

    Bolt sends a plain-text body as ``{"text": ...}`` over the socket, and JSON bodies as they are.
    """
    if ack is None:
        return httpx.Response(200)
    if set(ack) == {"text"} and isinstance(ack["text"], str):
        return httpx.Response(200, text=ack["text"])
    return httpx.Response(200, json=ack)


def _json_or_none(response: httpx.Response) -> JsonDict | None:
    if not response.content:
        return None
    try:
        parsed = response.json()
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
