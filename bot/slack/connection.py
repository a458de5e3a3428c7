"""Reaching Slack, and saying exactly why it did not work.

Two different things go wrong, and they need different fixes:

- **Slack answered and refused** (``{"ok": false, "error": "invalid_auth"}``): the token is
  wrong, revoked, of the wrong type or lacks a scope. :class:`SlackRefused` carries Slack's
  error code; :func:`refusal_advice` says what to do about it.
- **Slack was never reached** (DNS, a firewall, a proxy, TLS interception, a timeout):
  :class:`SlackUnreachable` describes the network failure; calling that a refusal would send an
  administrator to regenerate tokens that were fine.

:func:`open_socket_url` and :func:`probe_socket_mode` are the two halves of a Socket Mode
connection (``apps.connections.open``, then the websocket and its ``hello``), used by
``vro-bot check`` and by :class:`~bot.slack.socket_mode.SocketModeLink`.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Awaitable
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

__all__ = [
    "SlackRefused",
    "SlackUnreachable",
    "call_web_api",
    "check_bot_token",
    "describe_network_error",
    "open_socket_url",
    "probe_socket_mode",
    "refusal_advice",
]

HELLO_TIMEOUT: Final = 10.0

TOKEN_REFUSALS: Final = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "no_permission"}
)
REISSUE_APP_ADVICE: Final = (
    "Generate a new app-level token (Basic Information → App-Level Tokens, scope connections:write) "
    "and put the xapp-… token in SLACK_APP_TOKEN."
)
REINSTALL_BOT_ADVICE: Final = "Reinstall the app and copy the new xoxb-… token into SLACK_BOT_TOKEN."
WRONG_TYPE_ADVICE: Final = (
    "SLACK_APP_TOKEN must be the app-level token (xapp-…, Basic Information → App-Level Tokens), "
    "not the bot token (xoxb-…)."
)
SCOPE_ADVICE: Final = "Add the scope {needed} to the token and install the app again."
SOCKET_DISABLED_ADVICE: Final = (
    "Turn Socket Mode on in the app's settings, or unset SLACK_APP_TOKEN for HTTP mode."
)
NETWORK_ADVICE: Final = (
    "Check that this host can reach {host} on port {port} (DNS, firewall); behind a proxy, set HTTPS_PROXY."
)
PROXY_ADVICE: Final = "Check HTTPS_PROXY ({proxy}): the proxy must allow CONNECT to {host}:{port}."
TLS_ADVICE: Final = (
    "A proxy that inspects TLS needs its CA certificate in the system store (or SSL_CERT_FILE)."
)
WEBSOCKET_ADVICE: Final = (
    "Socket Mode needs an outbound websocket to {host}:{port}; allow it in the firewall or proxy "
    "(or use HTTP mode: unset SLACK_APP_TOKEN)."
)


class SlackRefused(Exception):
    """Slack answered ``ok: false``: ``error`` is its code (``invalid_auth``, ``missing_scope``...)."""

    def __init__(self, error: str, *, method: str, needed: str | None = None) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error
        self.method = method
        self.needed = needed


class SlackUnreachable(Exception):
    """Slack was not reached (network, proxy, TLS, timeout); the message says which, ``advice`` what to do."""

    def __init__(self, problem: str, *, advice: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.advice = advice


def refusal_advice(refusal: SlackRefused, *, app_token: bool) -> str:
    """What to do about a refusal, by Slack's error code."""
    if refusal.error == "not_allowed_token_type":
        return WRONG_TYPE_ADVICE if app_token else REINSTALL_BOT_ADVICE
    if refusal.error == "missing_scope":
        return SCOPE_ADVICE.format(needed=refusal.needed or "that the method needs")
    if refusal.error in ("not_allowed", "link_disabled"):
        return SOCKET_DISABLED_ADVICE
    return REISSUE_APP_ADVICE if app_token else REINSTALL_BOT_ADVICE


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme in ("https", "wss") else 80
    return parts.hostname or url, parts.port or default


def describe_network_error(exc: BaseException, *, url: str, proxy: str | None) -> SlackUnreachable:
    """A network failure towards ``url`` as a :class:`SlackUnreachable` naming its cause."""
    host, port = _host_port(url)
    advice = NETWORK_ADVICE.format(host=host, port=port)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return SlackUnreachable(
            f"the proxy {safe_url(proxy)} answered HTTP {exc.status} instead of connecting to {host}",
            advice=PROXY_ADVICE.format(proxy=safe_url(proxy), host=host, port=port),
        )
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return SlackUnreachable(
            f"could not connect to the proxy {safe_url(proxy)} ({_os_reason(exc)})",
            advice=PROXY_ADVICE.format(proxy=safe_url(proxy), host=host, port=port),
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return SlackUnreachable(f"TLS with {host} failed ({_os_reason(exc)})", advice=TLS_ADVICE)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return SlackUnreachable(f"cannot resolve {host} (DNS)", advice=advice)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return SlackUnreachable(f"cannot connect to {host}:{port} ({_os_reason(exc)})", advice=advice)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return SlackUnreachable(f"no answer from {host}:{port} in time", advice=advice)
    message = str(exc).strip()
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return SlackUnreachable(f"network error talking to {host}:{port} ({detail})", advice=advice)


_ERRNO_REASONS: Final = {
    errno.ECONNREFUSED: "nothing is listening there",
    errno.ECONNRESET: "the connection was reset",
    errno.ETIMEDOUT: "the connection timed out",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ENETUNREACH: "the network is unreachable",
}


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    """The operating system's reason, worded so that it never reads as Slack refusing anything."""
    os_error = exc.os_error
    if os_error is None:
        return str(exc)
    known = _ERRNO_REASONS.get(os_error.errno or 0)
    return known or os_error.strerror or str(os_error)


def safe_url(url: str | None) -> str:
    """``url`` without the user and password a proxy URL may carry."""
    if not url:
        return "(unset)"
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


NETWORK_ERRORS: Final = (aiohttp.ClientError, OSError, TimeoutError)


async def call_web_api(
    client: AsyncWebClient, method: str, call: Awaitable[AsyncSlackResponse]
) -> dict[str, Any]:
    """Await ``call`` (a call of ``method``); raise :class:`SlackRefused` or
    :class:`SlackUnreachable`, never anything vaguer."""
    try:
        response = await call
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        status = exc.response.status_code
        if not data:  # not Slack's JSON: a proxy or a captive portal answered
            host, port = _host_port(client.base_url)
            raise SlackUnreachable(
                f"{host} answered HTTP {status} without Slack's JSON (a proxy in the way?)",
                advice=NETWORK_ADVICE.format(host=host, port=port),
            ) from None
        raise SlackRefused(
            str(data.get("error") or f"HTTP {status}"), method=method, needed=data.get("needed")
        ) from None
    except NETWORK_ERRORS as exc:
        raise describe_network_error(exc, url=client.base_url, proxy=client.proxy) from None
    return dict(response.data) if isinstance(response.data, dict) else {}


async def open_socket_url(client: AsyncWebClient, app_token: str) -> str:
    """``apps.connections.open`` with the app-level token: a fresh websocket URL."""
    data = await call_web_api(
        client, "apps.connections.open", client.apps_connections_open(app_token=app_token)
    )
    return str(data["url"])


async def check_bot_token(client: AsyncWebClient) -> dict[str, Any]:
    """``auth.test`` with the client's bot token: the workspace and the bot user."""
    return await call_web_api(client, "auth.test", client.auth_test())


async def probe_socket_mode(
    client: AsyncWebClient, app_token: str, *, hello_timeout: float = HELLO_TIMEOUT
) -> str:
    """Open a Socket Mode connection, wait for Slack's ``hello``, close it; describe the link.

    Raises :class:`SlackRefused` (the app token) or :class:`SlackUnreachable` (the network,
    including a proxy or firewall that lets HTTPS through but not websockets).
    """
    url = await open_socket_url(client, app_token)
    host, port = _host_port(url)
    try:
        async with (
            aiohttp.ClientSession() as session,
            asyncio.timeout(hello_timeout),
            session.ws_connect(
                url, proxy=client.proxy, ssl=client.ssl if client.ssl is not None else True
            ) as ws,
        ):
            message = await ws.receive()
    except NETWORK_ERRORS as exc:
        unreachable = describe_network_error(exc, url=url, proxy=client.proxy)
        raise SlackUnreachable(
            f"the Socket Mode websocket did not open: {unreachable.problem}",
            advice=WEBSOCKET_ADVICE.format(host=host, port=port),
        ) from None
    hello = _json_object(message.data) if message.type == aiohttp.WSMsgType.TEXT else {}
    if hello.get("type") != "hello":
        raise SlackUnreachable(
            f"the Socket Mode websocket to {host} opened but Slack did not say hello",
            advice=WEBSOCKET_ADVICE.format(host=host, port=port),
        )
    connections = hello.get("num_connections")
    return f"websocket to {host} open" + (f" ({connections} connection(s))" if connections else "")


def _json_object(data: object) -> dict[str, Any]:
    try:
        parsed = json.loads(data) if isinstance(data, str | bytes) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
