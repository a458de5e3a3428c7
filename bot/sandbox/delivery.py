"""How the sandbox's driver reaches the bot: signing and sending a request (HTTP or Socket Mode),
and the details every request shares (team, user, channel, trigger ids, response URLs, views)."""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.clock import Clock
from bot.sandbox.content import find_element
from bot.sandbox.models import (
    DEFAULT_APP_ID,
    DEFAULT_TEAM_DOMAIN,
    DEFAULT_TEAM_ID,
    HookSource,
    JsonDict,
    View,
)
from bot.sandbox.requests import (
    DEFAULT_PATH,
    ENVELOPE_TYPES,
    FORM,
    RequestKind,
    SlackRequest,
    _option,
    ack_as_response,
)
from bot.sandbox.server import SlackSandbox
from bot.sandbox.socket_mode import SocketModeHub


class DriverBase:
    """What every request of :class:`~bot.sandbox.driver.SlackDriver` needs: its identity and
    clock, signing, sending (and recording), and the parts of Slack's payloads they share."""

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
