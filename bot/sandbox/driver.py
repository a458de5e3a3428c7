"""Builds and signs the requests Slack sends to the bot, and sends them through an httpx client.

Bodies follow Slack's wire format (slack-notes §4): slash commands are form-encoded fields,
interactions (``block_actions``, ``view_submission``, ``block_suggestion``) are a form field
``payload`` holding JSON, Events API callbacks are JSON. Signatures are made with
``slack_sdk.signature.SignatureVerifier`` over the exact bytes sent, with the timestamp taken
from the injected clock.

With a :class:`~bot.sandbox.server.SlackSandbox`, trigger ids are registered in it (so
``views.open`` accepts them for 3 s), ``response_url`` points at its ``/hooks``, and a click
is built from the message actually stored there (its blocks, block_id and button value), so a
test cannot click a button the bot never posted.

Negative tests sign with another secret or an old timestamp::

    request = driver.build_command("status SAP", user_id=U, channel_id=C)
    await driver.send(request, secret="wrong")          # -> 401 from Bolt
    await driver.send(request, age_seconds=600)         # -> 401 from Bolt

Note: Bolt checks the timestamp against its own (real) clock, so drive a real Bolt app with a
``SystemClock`` here unless its verifier shares your fake clock.

In Socket Mode (``socket=sandbox.socket_mode``) the same requests travel as envelopes over the
bot's websocket instead (no signature: Slack does not sign them); the ack's payload comes back
as the ``httpx.Response`` the bot would have answered over HTTP, so a test reads both alike.
A slash command's answer (the ack's text or blocks) is shown in the sandbox as Slack shows it:
to the invoker only, or in the channel with ``response_type: in_channel``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.clock import Clock
from bot.sandbox.content import find_element
from bot.sandbox.models import (
    DEFAULT_APP_ID,
    DEFAULT_BOT_USER_ID,
    DEFAULT_TEAM_DOMAIN,
    DEFAULT_TEAM_ID,
    HookSource,
    JsonDict,
    View,
)
from bot.sandbox.server import SlackSandbox
from bot.sandbox.socket_mode import EnvelopeType, SocketModeHub
from bot.sandbox.transcript import ButtonRef

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


class SlackDriver:
    """Plays Slack's part towards the bot: signed commands, clicks, submissions and events."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        signing_secret: str,
        clock: Clock,
        sandbox: SlackSandbox | None = None,
        path: str = DEFAULT_PATH,
        team_id: str | None = None,
        team_domain: str | None = None,
        api_app_id: str | None = None,
        socket: SocketModeHub | None = None,
    ) -> None:
        self.http = http
        self.socket = socket
        """When set, requests go over Socket Mode instead of HTTP."""
        self.signing_secret = signing_secret
        self.clock = clock
        self.sandbox = sandbox
        self.path = path
        workspace = sandbox.workspace if sandbox is not None else None
        self.team_id = team_id or (workspace.team_id if workspace else DEFAULT_TEAM_ID)
        self.team_domain = team_domain or (workspace.team_domain if workspace else DEFAULT_TEAM_DOMAIN)
        self.api_app_id = api_app_id or (workspace.app_id if workspace else DEFAULT_APP_ID)
        self.sent: list[SlackRequest] = []
        self._numbers = itertools.count(1)

    # ------------------------------------------------------------------ signing and sending

    def timestamp(self, *, age_seconds: float = 0.0) -> int:
        """The ``X-Slack-Request-Timestamp`` for now (or ``age_seconds`` ago) on the clock."""
        return int(self.clock.now().timestamp() - age_seconds)

    def sign(
        self,
        body: bytes,
        *,
        secret: str | None = None,
        age_seconds: float = 0.0,
        timestamp: int | None = None,
    ) -> dict[str, str]:
        """The two signature headers for ``body`` (``secret``/``age_seconds`` for negative tests)."""
        stamp = str(self.timestamp(age_seconds=age_seconds) if timestamp is None else timestamp)
        verifier = SignatureVerifier(signing_secret=secret if secret is not None else self.signing_secret)
        signature = verifier.generate_signature(timestamp=stamp, body=body)
        if signature is None:  # only when the secret is empty
            raise ValueError("a signing secret is required to sign a request")
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}

    def signed_headers(
        self, request: SlackRequest, *, secret: str | None = None, age_seconds: float = 0.0
    ) -> dict[str, str]:
        """Every header Slack would send with ``request``."""
        headers = {"Content-Type": request.content_type, **request.headers}
        headers.update(self.sign(request.body, secret=secret, age_seconds=age_seconds))
        return headers

    async def send(
        self, request: SlackRequest, *, secret: str | None = None, age_seconds: float = 0.0
    ) -> httpx.Response:
        """POST ``request`` to the bot, signed now (or with ``secret`` / ``age_seconds`` to fail);
        in Socket Mode, deliver it as an envelope and answer with its ack."""
        self.sent.append(request)
        if self.socket is not None:
            return await self._deliver(request)
        headers = self.signed_headers(request, secret=secret, age_seconds=age_seconds)
        return await self.http.post(self.path, content=request.body, headers=headers)

    async def _deliver(self, request: SlackRequest) -> httpx.Response:
        assert self.socket is not None
        kind = ENVELOPE_TYPES.get(request.kind)
        if kind is None:
            raise ValueError(f"Slack sends no {request.kind} over Socket Mode")
        retry = request.headers.get("X-Slack-Retry-Num")
        ack = await self.socket.deliver(
            kind,
            request.payload,
            retry_attempt=int(retry) if retry is not None else None,
            retry_reason=request.headers.get("X-Slack-Retry-Reason"),
        )
        return ack_as_response(ack)

    @property
    def last(self) -> SlackRequest:
        """The request sent most recently."""
        if not self.sent:
            raise LookupError("no request was sent yet")
        return self.sent[-1]

    # ------------------------------------------------------------------ slash commands

    def build_command(
        self, text: str, *, user_id: str, channel_id: str, command: str = "/vro"
    ) -> SlackRequest:
        """A slash command exactly as Slack form-encodes it."""
        trigger_id = self._trigger(user_id)
        response_url = self._response_url(channel=channel_id, user=user_id, source="command", message_ts=None)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        return SlackRequest(
            kind="command",
            body=urlencode(fields).encode(),
            content_type=FORM,
            payload=dict(fields),
            response_url=response_url,
            trigger_id=trigger_id,
        )

    async def command(
        self, text: str, *, user_id: str, channel_id: str, command: str = "/vro"
    ) -> httpx.Response:
        """Send ``/vro <text>`` as ``user_id`` in ``channel_id``; the sandbox shows the answer."""
        response = await self.send(
            self.build_command(text, user_id=user_id, channel_id=channel_id, command=command)
        )
        if self.sandbox is not None and response.status_code == 200 and response.content:
            body = _json_or_none(response)
            self.sandbox.workspace.show_command_response(
                channel_id, user_id, body if body is not None else {"text": response.text}
            )
        return response

    # ------------------------------------------------------------------ block_actions

    def build_click(
        self,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        ephemeral: bool = False,
        message: JsonDict | None = None,
    ) -> SlackRequest:
        """A ``block_actions`` click on a message's element.

        With a sandbox the message is looked up there (ephemeral ones too) and the element is
        found by ``action_id`` (and ``value``, when several buttons share an action_id). Without
        one, pass ``block_id``, ``value`` and optionally the ``message`` dict yourself.
        """
        element: JsonDict = {"type": "button", "action_id": action_id}
        if value is not None:
            element["value"] = value
        if self.sandbox is not None:
            message, block_id, element = self._element_in_message(
                channel_id, message_ts, action_id, value, ephemeral=ephemeral
            )
        if block_id is None:
            raise ValueError("block_id is required without a sandbox to look the message up in")
        trigger_id = self._trigger(user_id)
        response_url = self._response_url(
            channel=channel_id,
            user=user_id,
            source="ephemeral" if ephemeral else "message",
            message_ts=message_ts,
        )
        payload: JsonDict = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [self._action(element, block_id, value)],
        }
        if not ephemeral:
            # Slack leaves the message out of clicks on ephemeral messages.
            payload["message"] = message or {"type": "message", "ts": message_ts, "text": ""}
        return self._interaction("block_actions", payload, response_url=response_url, trigger_id=trigger_id)

    async def click(
        self,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        ephemeral: bool = False,
    ) -> httpx.Response:
        """Click the element ``action_id`` (a button, or pick ``value`` in a select) on a message."""
        return await self.send(
            self.build_click(
                user_id=user_id,
                channel_id=channel_id,
                message_ts=message_ts,
                action_id=action_id,
                value=value,
                ephemeral=ephemeral,
            )
        )

    async def press(self, button: ButtonRef, *, user_id: str) -> httpx.Response:
        """Click button number N of a :class:`~bot.sandbox.transcript.Transcript` as ``user_id``."""
        return await self.click(
            user_id=user_id,
            channel_id=button.channel,
            message_ts=button.message_ts,
            action_id=button.action_id,
            value=button.value,
            ephemeral=button.ephemeral_for is not None,
        )

    def build_view_click(
        self, *, user_id: str, view_id: str, action_id: str, value: str | None = None
    ) -> SlackRequest:
        """A ``block_actions`` click inside a modal or the Home tab (no response_url there)."""
        view = self._view(view_id)
        found = find_element(
            view.view.get("blocks") or [], action_id, None if _is_select(view, action_id) else value
        )
        if found is None:
            raise LookupError(f"view {view_id} has no element with action_id {action_id!r}")
        block_id, element = found
        trigger_id = self._trigger(user_id, view_id=view_id)
        payload: JsonDict = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": self._view_payload(view),
            "actions": [self._action(element, block_id, value)],
        }
        return self._interaction("block_actions", payload, response_url=None, trigger_id=trigger_id)

    async def click_in_view(
        self, *, user_id: str, view_id: str, action_id: str, value: str | None = None
    ) -> httpx.Response:
        return await self.send(
            self.build_view_click(user_id=user_id, view_id=view_id, action_id=action_id, value=value)
        )

    # ------------------------------------------------------------------ views

    def build_view_submission(
        self, *, user_id: str, view_id: str, values: Mapping[str, StateValue] | None = None
    ) -> SlackRequest:
        """Submit an open modal; ``values`` maps action_id to the value the user entered.

        The state is shaped per element type as Slack does (``value``, ``selected_option``,
        ``selected_date`` ...); inputs left out are submitted empty.
        """
        view = self._view(view_id)
        state = view_state(view.view, values or {})
        payload: JsonDict = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger(user_id, view_id=view_id),
            "view": self._view_payload(view, state=state),
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self._interaction(
            "view_submission", payload, response_url=None, trigger_id=payload["trigger_id"]
        )

    async def submit_view(
        self, *, user_id: str, view_id: str, values: Mapping[str, StateValue] | None = None
    ) -> httpx.Response:
        """Submit the modal and, with a sandbox, apply the bot's ``response_action`` to it."""
        response = await self.send(
            self.build_view_submission(user_id=user_id, view_id=view_id, values=values)
        )
        if self.sandbox is not None and response.status_code == 200:
            ack = _json_or_none(response)
            self.sandbox.workspace.apply_view_submission_ack(user_id, view_id, ack)
        return response

    def build_block_suggestion(
        self,
        *,
        user_id: str,
        action_id: str,
        value: str,
        view_id: str | None = None,
        block_id: str | None = None,
    ) -> SlackRequest:
        """What Slack sends while a user types into an external select (``options_load_url``)."""
        payload: JsonDict = {
            "type": "block_suggestion",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "action_id": action_id,
            "value": value,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if view_id is not None:
            view = self._view(view_id)
            found = find_element(view.view.get("blocks") or [], action_id)
            if found is None:
                raise LookupError(f"view {view_id} has no element with action_id {action_id!r}")
            block_id = found[0]
            payload["container"] = {"type": "view", "view_id": view_id}
            payload["view"] = self._view_payload(view)
        if block_id is None:
            raise ValueError("block_id is required when the suggestion is not for a view")
        payload["block_id"] = block_id
        return self._interaction("block_suggestion", payload, response_url=None, trigger_id=None)

    async def suggest(
        self,
        *,
        user_id: str,
        action_id: str,
        value: str,
        view_id: str | None = None,
        block_id: str | None = None,
    ) -> httpx.Response:
        return await self.send(
            self.build_block_suggestion(
                user_id=user_id, action_id=action_id, value=value, view_id=view_id, block_id=block_id
            )
        )

    # ------------------------------------------------------------------ events

    def build_event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> SlackRequest:
        """An Events API ``event_callback``; ``retry_num`` adds Slack's retry headers."""
        bot_user = self.sandbox.workspace.bot_user_id if self.sandbox is not None else DEFAULT_BOT_USER_ID
        now = int(self.clock.now().timestamp())
        payload: JsonDict = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._numbers):010d}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": bot_user,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return SlackRequest(
            kind="event",
            body=json.dumps(payload).encode(),
            content_type=JSON,
            payload=payload,
            headers=headers,
        )

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        return await self.send(
            self.build_event(event, event_id=event_id, retry_num=retry_num, retry_reason=retry_reason)
        )

    def build_app_home_opened(
        self, *, user_id: str, tab: str = "home", event_id: str | None = None, retry_num: int | None = None
    ) -> SlackRequest:
        """``app_home_opened`` for ``user_id`` (with the published Home view, if any)."""
        event: JsonDict = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self._dm_channel_id(user_id),
            "tab": tab,
            "event_ts": self._event_ts(),
        }
        if self.sandbox is not None:
            home = self.sandbox.workspace.home_view(user_id)
            if home is not None:
                event["view"] = self._view_payload(home)
        return self.build_event(event, event_id=event_id, retry_num=retry_num)

    async def app_home_opened(
        self, *, user_id: str, tab: str = "home", event_id: str | None = None, retry_num: int | None = None
    ) -> httpx.Response:
        return await self.send(
            self.build_app_home_opened(user_id=user_id, tab=tab, event_id=event_id, retry_num=retry_num)
        )

    def build_url_verification(self, challenge: str) -> SlackRequest:
        """The handshake Slack sends when the Events request URL is saved."""
        payload: JsonDict = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return SlackRequest(
            kind="url_verification", body=json.dumps(payload).encode(), content_type=JSON, payload=payload
        )

    # ------------------------------------------------------------------ internals

    def _interaction(
        self, kind: RequestKind, payload: JsonDict, *, response_url: str | None, trigger_id: str | None
    ) -> SlackRequest:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return SlackRequest(
            kind=kind,
            body=body,
            content_type=FORM,
            payload=payload,
            response_url=response_url,
            trigger_id=trigger_id,
        )

    def _trigger(self, user_id: str, *, view_id: str | None = None) -> str:
        if self.sandbox is not None:
            return self.sandbox.issue_trigger(user_id, view_id=view_id)
        number = next(self._numbers)
        return f"{self.timestamp()}.{number}.unregistered{number:020d}"

    def _response_url(self, *, channel: str, user: str, source: HookSource, message_ts: str | None) -> str:
        if self.sandbox is not None:
            return self.sandbox.new_response_url(
                channel=channel, user=user, source=source, message_ts=message_ts
            )
        return f"https://hooks.slack.invalid/commands/{self.team_id}/{next(self._numbers)}"

    def _team(self) -> JsonDict:
        return {"id": self.team_id, "domain": self.team_domain}

    def _user_name(self, user_id: str) -> str:
        if self.sandbox is not None:
            user = self.sandbox.workspace.users.get(user_id)
            if user is not None:
                return user.name
        return user_id.lower()

    def _user(self, user_id: str) -> JsonDict:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _channel_name(self, channel_id: str) -> str:
        if self.sandbox is not None:
            channel = self.sandbox.workspace.channels.get(channel_id)
            if channel is not None:
                return channel.name
        return channel_id.lower()

    def _dm_channel_id(self, user_id: str) -> str:
        if self.sandbox is not None:
            return self.sandbox.workspace.dm_channel(user_id).id
        return f"D{user_id[1:]}"

    def _event_ts(self) -> str:
        if self.sandbox is not None:
            return self.sandbox.workspace.next_ts()
        now = self.clock.now()
        return f"{int(now.timestamp())}.{now.microsecond:06d}"

    def _view(self, view_id: str) -> View:
        if self.sandbox is None:
            raise ValueError("view interactions need the sandbox that holds the view")
        view = self.sandbox.workspace.views.get(view_id)
        if view is None or view.closed:
            raise LookupError(f"no open view {view_id}")
        return view

    def _view_payload(self, view: View, *, state: JsonDict | None = None) -> JsonDict:
        workspace = self.sandbox.workspace if self.sandbox is not None else None
        body = view.to_api(
            team_id=self.team_id,
            app_id=self.api_app_id,
            bot_id=workspace.bot_id if workspace else "",
        )
        if state is not None:
            body["state"] = {"values": state}
        return body

    def _element_in_message(
        self, channel_id: str, message_ts: str, action_id: str, value: str | None, *, ephemeral: bool
    ) -> tuple[JsonDict, str, JsonDict]:
        assert self.sandbox is not None
        workspace = self.sandbox.workspace
        if ephemeral:
            stored = workspace.ephemeral(channel_id, message_ts)
            blocks = stored.blocks
            message: JsonDict = {"type": "message", "ts": stored.ts, "text": stored.text, "blocks": blocks}
        else:
            posted = workspace.message(channel_id, message_ts)
            blocks = posted.blocks
            message = posted.to_api(team_id=workspace.team_id, include_metadata=False)
        found = find_element(blocks, action_id, value)
        if found is None:
            found = find_element(blocks, action_id)
            if found is None or found[1].get("type") == "button":
                raise LookupError(
                    f"message {message_ts} in {channel_id} has no element {action_id!r}"
                    + ("" if value is None else f" with value {value!r}")
                )
        block_id, element = found
        return message, block_id, element

    def _action(self, element: JsonDict, block_id: str, value: str | None) -> JsonDict:
        kind = str(element.get("type", "button"))
        action: JsonDict = {
            "type": kind,
            "action_id": element.get("action_id"),
            "block_id": block_id,
            "action_ts": self._event_ts(),
        }
        if kind == "button":
            action["text"] = element.get("text", {"type": "plain_text", "text": ""})
            action["value"] = element.get("value") if value is None else value
            if "style" in element:
                action["style"] = element["style"]
        elif kind in ("static_select", "external_select", "overflow", "radio_buttons"):
            chosen = value if value is not None else ""
            action["selected_option"] = _option(element, chosen)
        else:
            action["value"] = value
        return action


# ---------------------------------------------------------------------- view state


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
