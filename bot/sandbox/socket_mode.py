"""Slack's side of Socket Mode, for the sandbox: connection URLs, the websocket, envelopes, acks.

The protocol, as Slack speaks it (and as ``slack_sdk.socket_mode`` expects it):

1. the app calls ``apps.connections.open`` with its app-level token (``xapp-...``) and gets a
   single-use ``wss://`` URL (here ``ws://127.0.0.1:<port>/link/?ticket=...``);
2. it opens the websocket; Slack sends ``{"type": "hello", "num_connections": N, ...}``;
3. Slack sends envelopes ``{"envelope_id", "type": "slash_commands" | "interactive" |
   "events_api", "payload", "accepts_response_payload", ["retry_attempt", "retry_reason"]}``;
   the app answers each with ``{"envelope_id": ..., "payload": <ack body>}``;
4. before Slack moves a connection it sends ``{"type": "disconnect", "reason": "warning"}`` and
   then ``{"type": "disconnect", "reason": "refresh_requested"}``; the app opens a new one.

:class:`SocketModeHub` plays that part. The websocket runs on the sandbox's server thread;
:meth:`SocketModeHub.deliver` is called from any event loop (a test's, the demo's) and waits
for the ack, so a test drives a bot in Socket Mode exactly as it drives one over HTTP.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.sandbox.models import JsonDict

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]
DisconnectReason = Literal["warning", "refresh_requested", "link_disabled"]

LINK_PATH: Final = "/link/"
DEFAULT_ACK_TIMEOUT: Final = 10.0
"""Slack gives up after 3 s; the sandbox waits longer so a loaded test machine is not a failure."""
APPROXIMATE_CONNECTION_SECONDS: Final = 18_060
BOT_TOKEN_PREFIXES: Final = ("xoxb-", "xoxp-", "xoxa-", "xoxe-")


class NoConnection(Exception):
    """No Socket Mode connection is open to deliver an envelope on."""


class AckTimeout(TimeoutError):
    """The app did not acknowledge an envelope in time."""


@dataclass
class Envelope:
    """One envelope sent to the app, and its ack once it came."""

    envelope_id: str
    type: EnvelopeType
    payload: JsonDict
    connection: int
    acked: bool = False
    ack_payload: JsonDict | None = None


@dataclass
class _Connection:
    number: int
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    closed: threading.Event = field(default_factory=threading.Event)
    retiring: bool = False
    """Sent a ``disconnect``: Slack delivers nothing more on it."""


class SocketModeHub:
    """Socket Mode connections to one app: tickets, websockets, envelopes and acks (thread-safe)."""

    def __init__(self, *, app_id: str, app_tokens: frozenset[str] | None = None) -> None:
        self.app_id = app_id
        self.app_tokens = app_tokens
        """Accepted app-level tokens; None accepts any ``xapp-`` token."""
        self.envelopes: list[Envelope] = []
        self.connections_opened = 0
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._open: dict[int, _Connection] = {}
        self._numbers = itertools.count(1)
        self._pending: dict[str, concurrent.futures.Future[JsonDict | None]] = {}
        self._changed = threading.Condition(self._lock)

    # ------------------------------------------------------------------ apps.connections.open

    def check_app_token(self, authorization: str | None) -> str | None:
        """The error ``apps.connections.open`` answers for this ``Authorization`` header, or None."""
        if not authorization:
            return "not_authed"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return "invalid_auth"
        if token.startswith(BOT_TOKEN_PREFIXES):
            return "not_allowed_token_type"  # Slack's answer to a bot or user token here
        if not token.startswith("xapp-"):
            return "invalid_auth"
        if self.app_tokens is not None and token not in self.app_tokens:
            return "invalid_auth"
        return None

    def open_url(self, base_url: str) -> str:
        """A new single-use websocket URL under ``base_url`` (``http://`` becomes ``ws://``)."""
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        ws_base = "ws" + base_url.removeprefix("http") if base_url.startswith("http") else base_url
        return f"{ws_base}{LINK_PATH}?ticket={ticket}&app_id={self.app_id}"

    # ------------------------------------------------------------------ the websocket

    async def endpoint(self, websocket: WebSocket) -> None:
        """``/link/?ticket=...``: accept a ticket once, say hello, then read acks until closed."""
        ticket = websocket.query_params.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            await websocket.close(code=1008, reason="invalid or used ticket")
            return
        await websocket.accept()
        connection = _Connection(
            number=next(self._numbers), websocket=websocket, loop=asyncio.get_running_loop()
        )
        with self._changed:
            self._open[connection.number] = connection
            self.connections_opened += 1
            count = len(self._open)
        await websocket.send_text(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {
                        "host": f"sandbox-link-{connection.number}",
                        "approximate_connection_time": APPROXIMATE_CONNECTION_SECONDS,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        with self._changed:
            self._changed.notify_all()
        try:
            while True:
                self._receive(await websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            with self._changed:
                self._open.pop(connection.number, None)
                connection.closed.set()
                self._changed.notify_all()

    def _receive(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        envelope_id = str(message.get("envelope_id", ""))
        payload = message.get("payload")
        with self._lock:
            future = self._pending.pop(envelope_id, None)
            for envelope in self.envelopes:
                if envelope.envelope_id == envelope_id:
                    envelope.acked = True
                    envelope.ack_payload = payload if isinstance(payload, dict) else None
        if future is not None and not future.done():
            future.set_result(payload if isinstance(payload, dict) else None)

    # ------------------------------------------------------------------ what tests use

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    async def wait_connected(self, *, count: int = 1, within_seconds: float = 10.0) -> None:
        """Wait until ``count`` connections have been opened in total (hello sent on each)."""
        await asyncio.to_thread(self._wait_opened, count, within_seconds)

    def _wait_opened(self, count: int, within_seconds: float) -> None:
        with self._changed:
            if not self._changed.wait_for(
                lambda: self.connections_opened >= count and bool(self._open), timeout=within_seconds
            ):
                raise TimeoutError(
                    f"expected {count} Socket Mode connection(s), {self.connections_opened} opened"
                )

    async def deliver(
        self,
        kind: EnvelopeType,
        payload: Mapping[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
    ) -> JsonDict | None:
        """Send an envelope on the newest connection and return the ack's payload (None: empty ack).

        Raises :class:`NoConnection` when no connection is open and :class:`AckTimeout` when
        the app does not ack within ``ack_timeout`` seconds.
        """
        with self._lock:
            live = [number for number, c in self._open.items() if not c.retiring]
            if not live:
                raise NoConnection("no Socket Mode connection is open")
            connection = self._open[max(live)]
            envelope = Envelope(
                envelope_id=secrets.token_hex(12),
                type=kind,
                payload=dict(payload),
                connection=connection.number,
            )
            self.envelopes.append(envelope)
            acked: concurrent.futures.Future[JsonDict | None] = concurrent.futures.Future()
            self._pending[envelope.envelope_id] = acked
        message: JsonDict = {
            "envelope_id": envelope.envelope_id,
            "type": kind,
            "payload": envelope.payload,
            "accepts_response_payload": kind != "events_api",
        }
        if retry_attempt is not None:
            message["retry_attempt"] = retry_attempt
            message["retry_reason"] = retry_reason or ""
        await self._send(connection, message)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(acked), ack_timeout)
        except TimeoutError:
            with self._lock:
                self._pending.pop(envelope.envelope_id, None)
            raise AckTimeout(
                f"no ack for {kind} envelope {envelope.envelope_id} within {ack_timeout:g} s"
            ) from None

    async def disconnect(self, reason: DisconnectReason = "refresh_requested") -> int:
        """Send ``{"type": "disconnect", "reason": ...}`` on every open connection; returns how many.

        Nothing more is delivered on those connections (the app is expected to open a new one).
        """
        with self._lock:
            connections = list(self._open.values())
            for connection in connections:
                connection.retiring = True
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "sandbox-link"},
        }
        for connection in connections:
            await self._send(connection, message)
        return len(connections)

    async def refresh(self, *, within_seconds: float = 10.0) -> None:
        """What Slack does every few hours: warn that the connection will go, wait until the app has
        opened a new one, then send ``refresh_requested`` to the old one if it is still open."""
        with self._lock:
            old = list(self._open.values())
            opened = self.connections_opened
        await self.disconnect("warning")
        await self.wait_connected(count=opened + 1, within_seconds=within_seconds)
        message = {
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "sandbox-link"},
        }
        for connection in old:
            if not connection.closed.is_set():
                await self._send(connection, message)

    async def close_all(self, code: int = 1001) -> None:
        """Drop every connection from Slack's side (the app should reconnect on its own)."""
        with self._lock:
            connections = list(self._open.values())
        for connection in connections:
            future = asyncio.run_coroutine_threadsafe(connection.websocket.close(code=code), connection.loop)
            with contextlib.suppress(RuntimeError):  # already closed by the other side
                await asyncio.wrap_future(future)

    async def _send(self, connection: _Connection, message: JsonDict) -> None:
        """Send on the connection's own loop (the sandbox server's thread)."""
        text = json.dumps(message)
        future = asyncio.run_coroutine_threadsafe(connection.websocket.send_text(text), connection.loop)
        # The app may have closed this connection meanwhile, as it does on a refresh.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await asyncio.wrap_future(future)
