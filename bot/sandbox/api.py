"""The sandbox's Web API dispatcher: auth, faults, rate limits, recording, then the workspace.

Transport-free: :meth:`SandboxApi.call` takes a method name, the parsed parameters and the
``Authorization`` header and returns an :class:`ApiReply` (status, headers, JSON body). The
starlette app in :mod:`bot.sandbox.server` only parses HTTP into that call.

Every call is recorded in a :class:`~bot.sandbox.calls.CallLog`, refused ones included; the
methods themselves are :class:`~bot.sandbox.methods.WebApiMethods`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from bot.clock import Clock
from bot.sandbox.calls import ApiReply, CallLog, CallRecord
from bot.sandbox.faults import ChannelRateLimit, Fault, FaultQueue
from bot.sandbox.methods import WebApiMethods
from bot.sandbox.models import JsonDict, SlackApiFailure
from bot.sandbox.scopes import CONVERSATION_METHOD_SCOPES, required_scope
from bot.sandbox.workspace import Workspace

RESPONSE_URL_METHOD = "response_url"
"""The pseudo method name under which POSTs to ``/hooks/...`` are recorded and faulted."""

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
"""Methods called with the app-level token (``xapp-...``), not the bot token."""


class SandboxApi:
    """Slack's Web API methods over a :class:`Workspace`, with auth, faults and recording."""

    def __init__(
        self,
        *,
        workspace: Workspace,
        clock: Clock,
        faults: FaultQueue | None = None,
        log: CallLog | None = None,
        tokens: frozenset[str] | None = None,
        scopes: frozenset[str] | None = None,
        app_auth: Callable[[str | None], str | None] | None = None,
        open_connection: Callable[[], str] | None = None,
    ) -> None:
        self.workspace = workspace
        self._app_auth = app_auth
        """Checks the app-level token of ``apps.connections.open`` (None: that method is refused)."""
        self.clock = clock
        self.faults = faults or FaultQueue()
        self.log = log or CallLog()
        self.tokens = tokens
        """Accepted bot tokens; None accepts any ``xoxb-`` token."""
        self.scopes = scopes
        """The bot token's scopes; None grants everything. Otherwise calls lacking one answer
        ``missing_scope``, and ``chat:write.public`` decides posting into channels not joined."""
        if scopes is not None:
            workspace.chat_write_public = "chat:write.public" in scopes
        self.rate_limit: ChannelRateLimit | None = None
        self._handlers = WebApiMethods(workspace, open_connection=open_connection).handlers

    @property
    def methods(self) -> frozenset[str]:
        """The Web API methods the sandbox implements."""
        return frozenset(self._handlers)

    def set_channel_rate_limit(
        self,
        *,
        per_second: float = 1.0,
        burst: int = 1,
        methods: tuple[str, ...] = ("chat.postMessage",),
    ) -> ChannelRateLimit:
        """Answer 429 (with ``Retry-After``) when a channel receives posts faster than this."""
        self.rate_limit = ChannelRateLimit(
            clock=self.clock, per_second=per_second, burst=burst, methods=methods
        )
        return self.rate_limit

    def clear_channel_rate_limit(self) -> None:
        self.rate_limit = None

    # ------------------------------------------------------------------ entry points

    def call(self, method: str, params: Mapping[str, Any], *, authorization: str | None) -> ApiReply:
        """One Web API call: auth, then a queued fault, then the rate limit, then the method."""
        reply = self._dispatch(method, dict(params), authorization)
        self._record(method, params, reply)
        return reply

    def post_to_hook(self, hook_id: str, body: Mapping[str, Any]) -> ApiReply:
        """A POST to a response_url. Slack answers these in plain text, so ``body["text"]`` says how."""
        fault = self.faults.take(RESPONSE_URL_METHOD)
        if fault is not None:
            reply = _fault_reply(fault)
        else:
            try:
                self.workspace.post_to_hook(hook_id, body)
                reply = ApiReply(status=200, body={"ok": True})
            except SlackApiFailure as failure:
                status = 404 if failure.error in ("used_url", "expired_url", "no_service") else 400
                reply = ApiReply(status=status, body={"ok": False, "error": failure.error})
        self._record(RESPONSE_URL_METHOD, {"hook_id": hook_id, **body}, reply)
        return reply

    # ------------------------------------------------------------------ internals

    def _dispatch(self, method: str, params: JsonDict, authorization: str | None) -> ApiReply:
        if method in APP_TOKEN_METHODS:
            auth_error = self._app_auth(authorization) if self._app_auth is not None else "not_allowed"
        else:
            auth_error = self._check_auth(authorization)
        if auth_error is not None:
            return ApiReply(status=200, body={"ok": False, "error": auth_error})
        lacking = self._missing_scope(method, params)
        if lacking is not None:
            provided = ",".join(sorted(self.scopes or ()))
            return ApiReply(
                status=200,
                body={"ok": False, "error": "missing_scope", "needed": lacking, "provided": provided},
            )
        fault = self.faults.take(method)
        if fault is not None:
            return _fault_reply(fault)
        handler = self._handlers.get(method)
        if handler is None:
            return ApiReply(status=200, body={"ok": False, "error": "unknown_method"})
        if self.rate_limit is not None and self.rate_limit.applies_to(method):
            retry_after = self.rate_limit.check(str(params.get("channel", "")))
            if retry_after is not None:
                return ApiReply(
                    status=429,
                    body={"ok": False, "error": "ratelimited"},
                    headers={"Retry-After": str(retry_after)},
                )
        try:
            return ApiReply(status=200, body=handler(params))
        except SlackApiFailure as failure:
            return ApiReply(status=200, body={"ok": False, "error": failure.error})

    def _missing_scope(self, method: str, params: JsonDict) -> str | None:
        if self.scopes is None or method not in self._handlers or method in APP_TOKEN_METHODS:
            return None  # app-level tokens carry their own scope (connections:write)
        kind: str | None = None
        if method in CONVERSATION_METHOD_SCOPES:
            channel = self.workspace.channels.get(str(params.get("channel", "")))
            if channel is None:
                return None  # the method answers channel_not_found
            kind = "im" if channel.is_im else "private" if channel.is_private else "public"
        lacking = required_scope(method, kind) - self.scopes
        return ",".join(sorted(lacking)) if lacking else None

    def _check_auth(self, authorization: str | None) -> str | None:
        if not authorization:
            return "not_authed"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith("xoxb-"):
            return "invalid_auth"
        if self.tokens is not None and token not in self.tokens:
            return "invalid_auth"
        return None

    def _record(self, method: str, params: Mapping[str, Any], reply: ApiReply) -> None:
        retry_after = reply.headers.get("Retry-After")
        self.log.append(
            CallRecord(
                method=method,
                params=copy.deepcopy(dict(params)),
                at=self.clock.now(),
                monotonic=self.clock.monotonic(),
                status=reply.status,
                ok=reply.ok,
                error=reply.error,
                retry_after=None if retry_after is None else int(retry_after),
            )
        )


def _fault_reply(fault: Fault) -> ApiReply:
    """The answer a queued fault dictates (a copy: the fault may answer again)."""
    return ApiReply(status=fault.status, body=copy.deepcopy(fault.body), headers=dict(fault.headers))


__all__ = ["APP_TOKEN_METHODS", "RESPONSE_URL_METHOD", "ApiReply", "CallLog", "CallRecord", "SandboxApi"]
