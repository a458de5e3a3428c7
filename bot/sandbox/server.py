"""An offline stand-in for Slack's Web API, as an ASGI (starlette) app.

``POST|GET /api/<method>`` answers like ``https://slack.com/api/<method>`` (JSON, form or query
parameters; ``Authorization: Bearer xoxb-...``), ``POST /hooks/<id>`` serves the
``response_url`` of slash commands and button clicks, and ``/link/`` is the Socket Mode
websocket that ``apps.connections.open`` hands out (:mod:`bot.sandbox.socket_mode`). State lives in a
:class:`~bot.sandbox.workspace.Workspace`; calls go through :class:`~bot.sandbox.api.SandboxApi`
(auth, faults, rate limit, recording).

Two ways to use it:

- in-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app))``;
- on loopback, for clients that open their own connections (slack_sdk's ``AsyncWebClient`` over
  aiohttp, ``WebhookClient`` over urllib, Bolt's ``respond()``)::

      with serve_sandbox(sandbox) as running:
          client = AsyncWebClient(token="xoxb-test", base_url=running.api_url)

  The server runs uvicorn in a background thread on ``127.0.0.1:<free port>`` and stops
  cleanly when the ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from bot.clock import Clock, SystemClock
from bot.sandbox.api import SandboxApi
from bot.sandbox.calls import ApiReply, CallLog
from bot.sandbox.faults import ChannelRateLimit, Fault, FaultQueue
from bot.sandbox.models import Hook, HookSource
from bot.sandbox.socket_mode import LINK_PATH, SocketModeHub
from bot.sandbox.transcript import Transcript, render_channel
from bot.sandbox.workspace import Workspace

DEFAULT_BASE_URL = "http://slack.sandbox"
"""The base URL used for response_urls while the sandbox is not served on a port."""
SERVER_START_TIMEOUT = 10.0
SERVER_STOP_TIMEOUT = 10.0


class SlackSandbox:
    """The fake Slack: a workspace, its Web API, response_url hooks, faults and a call log."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        workspace: Workspace | None = None,
        tokens: frozenset[str] | None = None,
        app_tokens: frozenset[str] | None = None,
        scopes: frozenset[str] | None = None,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.workspace = workspace or Workspace(clock=self.clock)
        self.socket_mode = SocketModeHub(app_id=self.workspace.app_id, app_tokens=app_tokens)
        """Socket Mode: ``apps.connections.open`` hands out ``/link/`` websockets served here."""
        self.api = SandboxApi(
            workspace=self.workspace,
            clock=self.clock,
            tokens=tokens,
            scopes=scopes,
            app_auth=self.socket_mode.check_app_token,
            open_connection=lambda: self.socket_mode.open_url(self.base_url),
        )
        self.base_url = base_url.rstrip("/")
        """Where the sandbox is reachable; :func:`serve_sandbox` sets it to the loopback URL."""
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route("/hooks/{hook_id:path}", self._hook_endpoint, methods=["POST"]),
                WebSocketRoute(LINK_PATH, self.socket_mode.endpoint),
            ]
        )

    # ------------------------------------------------------------------ conveniences

    @property
    def api_url(self) -> str:
        """The Web API base URL for slack_sdk clients (``SLACK_API_URL``), with its trailing slash."""
        return f"{self.base_url}/api/"

    @property
    def log(self) -> CallLog:
        return self.api.log

    @property
    def faults(self) -> FaultQueue:
        return self.api.faults

    def inject(self, method: str, fault: Fault, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any method) with ``fault``."""
        self.api.faults.inject(method, fault, times=times)

    def set_channel_rate_limit(
        self, *, per_second: float = 1.0, burst: int = 1, methods: tuple[str, ...] = ("chat.postMessage",)
    ) -> ChannelRateLimit:
        """Answer 429 with ``Retry-After`` when a channel is posted to faster than ``per_second``."""
        return self.api.set_channel_rate_limit(per_second=per_second, burst=burst, methods=methods)

    def issue_trigger(self, user_id: str, *, view_id: str | None = None) -> str:
        """A fresh trigger_id for ``user_id`` (valid for 3 s on the sandbox's clock)."""
        return self.workspace.issue_trigger(user_id, view_id=view_id)

    def new_response_url(
        self,
        *,
        channel: str,
        user: str,
        source: HookSource = "command",
        message_ts: str | None = None,
    ) -> str:
        """A response_url served by this sandbox (``source`` names what a replace/delete acts on)."""
        hook = self.workspace.new_hook(channel=channel, user=user, source=source, message_ts=message_ts)
        return self.hook_url(hook)

    def hook_url(self, hook: Hook) -> str:
        return f"{self.base_url}/hooks/{hook.id}"

    def hook_for_url(self, url: str) -> Hook:
        """The hook behind a response_url this sandbox issued."""
        prefix = f"{self.base_url}/hooks/"
        if not url.startswith(prefix):
            raise KeyError(url)
        return self.workspace.hooks[url[len(prefix) :]]

    def transcript(self, channel: str, *, viewer: str | None = None) -> Transcript:
        """The channel as text (see :mod:`bot.sandbox.transcript`)."""
        return render_channel(self.workspace, channel, viewer=viewer)

    # ------------------------------------------------------------------ HTTP

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        params.update(_parse_body(body, request.headers.get("content-type", "")))
        reply = self.api.call(method, params, authorization=request.headers.get("authorization"))
        return _json_response(reply)

    async def _hook_endpoint(self, request: Request) -> Response:
        hook_id = request.path_params["hook_id"]
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        reply = self.api.post_to_hook(hook_id, body)
        # Slack answers response_url posts in plain text: "ok" or the error code.
        return PlainTextResponse(
            "ok" if reply.ok else str(reply.error or "error"),
            status_code=reply.status,
            headers=dict(reply.headers),
        )


def _parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON when declared or when it looks like JSON; otherwise a form body (last value wins)."""
    if not body:
        return {}
    text = body.decode("utf-8", errors="replace")
    if "application/json" in content_type or text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return dict(parse_qsl(text, keep_blank_values=True))


def _json_response(reply: ApiReply) -> JSONResponse:
    return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))


# ---------------------------------------------------------------------- loopback server


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox served on loopback."""

    sandbox: SlackSandbox
    base_url: str

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:<port>/api/``: the value for ``SLACK_API_URL`` / ``base_url``."""
        return f"{self.base_url}/api/"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that tells another thread when it has started (or failed to)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()

    async def main_loop(self) -> None:
        # Wait for stop() instead of uvicorn's 100 ms ticks, so a test's server stops at once.
        if self._stop is not None and not self.should_exit:
            await self._stop.wait()

    def stop(self) -> None:
        """Ask the server to shut down (from any thread)."""
        self.should_exit = True
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            # RuntimeError: the loop closed in between, so the server is gone already.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)


@contextmanager
def serve_asgi(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on ``host`` and ``port`` (0: a free one) in a background thread.

    Yields the base URL (``http://127.0.0.1:<port>``); on exit the server shuts down and the
    thread is joined. The socket is bound before the thread starts, so the port is known at once
    and connections made before uvicorn accepts simply wait in the listen backlog.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        http="h11",
        ws="wsproto",  # the sandbox's Socket Mode websocket
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    server = _ReadyServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{port}", daemon=True
    )
    thread.start()
    try:
        if not server.ready.wait(SERVER_START_TIMEOUT) or not server.started:
            raise RuntimeError(f"the sandbox server on {host}:{port} did not start")
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(SERVER_STOP_TIMEOUT)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the sandbox server on {host}:{port} did not stop")


@contextmanager
def serve_sandbox(
    sandbox: SlackSandbox, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSandbox]:
    """Serve ``sandbox`` on loopback; response_urls it issues meanwhile point at that address."""
    previous = sandbox.base_url
    with serve_asgi(sandbox.app, host=host, port=port) as base_url:
        sandbox.base_url = base_url
        try:
            yield RunningSandbox(sandbox=sandbox, base_url=base_url)
        finally:
            sandbox.base_url = previous


def create_sandbox(
    *,
    clock: Clock | None = None,
    users: Mapping[str, str] | None = None,
    channels: Mapping[str, str] | None = None,
    tokens: frozenset[str] | None = None,
    app_tokens: frozenset[str] | None = None,
    scopes: frozenset[str] | None = None,
) -> SlackSandbox:
    """A sandbox with the given users (id -> name) and channels (id -> name; the bot is a member).

    ``scopes`` (e.g. ``manifest_scopes()``) makes calls the bot's scopes do not cover fail with
    ``missing_scope``, as Slack does; None grants every scope.
    """
    sandbox = SlackSandbox(clock=clock, tokens=tokens, app_tokens=app_tokens, scopes=scopes)
    for user_id, name in (users or {}).items():
        sandbox.workspace.add_user(user_id, name)
    for channel_id, name in (channels or {}).items():
        sandbox.workspace.add_channel(channel_id, name)
    return sandbox
