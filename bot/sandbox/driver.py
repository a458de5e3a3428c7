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

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.sandbox.content import find_element
from bot.sandbox.delivery import DriverBase
from bot.sandbox.models import (
    DEFAULT_BOT_USER_ID,
    JsonDict,
)
from bot.sandbox.requests import (
    FORM,
    JSON,
    VERIFICATION_TOKEN,
    SlackRequest,
    StateValue,
    _is_select,
    _json_or_none,
    view_state,
)
from bot.sandbox.transcript import ButtonRef


class SlackDriver(DriverBase):
    """Plays Slack's part towards the bot: signed commands, clicks, submissions and events."""

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
        self,
        *,
        user_id: str,
        view_id: str,
        action_id: str,
        value: str | None = None,
        state: Mapping[str, StateValue] | None = None,
    ) -> SlackRequest:
        """A ``block_actions`` click inside a modal or the Home tab (no response_url there).

        ``state`` is what the form's inputs hold at the click (action_id to value), as Slack
        sends it with every click in a modal; the clicked select's own value is part of it.
        """
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
            "view": self._view_payload(
                view, state=None if state is None else view_state(view.view, {**state, action_id: value})
            ),
            "actions": [self._action(element, block_id, value)],
        }
        return self._interaction("block_actions", payload, response_url=None, trigger_id=trigger_id)

    async def click_in_view(
        self,
        *,
        user_id: str,
        view_id: str,
        action_id: str,
        value: str | None = None,
        state: Mapping[str, StateValue] | None = None,
    ) -> httpx.Response:
        return await self.send(
            self.build_view_click(
                user_id=user_id, view_id=view_id, action_id=action_id, value=value, state=state
            )
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
