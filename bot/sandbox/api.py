"""The sandbox's Web API dispatcher: auth, faults, rate limits, recording, then the workspace.

Transport-free: :meth:`SandboxApi.call` takes a method name, the parsed parameters and the
``Authorization`` header and returns an :class:`ApiReply` (status, headers, JSON body). The
starlette app in :mod:`bot.sandbox.server` only parses HTTP into that call.

Every call is recorded (:class:`CallRecord`), including refused ones, so tests can assert on
what the bot sent and how often; :meth:`CallLog.wait_for` lets a test wait, without sleeping,
until listeners that run after ``ack()`` have made their calls.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.clock import Clock
from bot.sandbox.content import blocks_param, metadata_param
from bot.sandbox.faults import ChannelRateLimit, FaultQueue
from bot.sandbox.models import JsonDict, Message, SlackApiFailure, View, as_str, truthy
from bot.sandbox.scopes import CONVERSATION_METHOD_SCOPES, required_scope
from bot.sandbox.workspace import Workspace

RESPONSE_URL_METHOD = "response_url"
"""The pseudo method name under which POSTs to ``/hooks/...`` are recorded and faulted."""

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
"""Methods called with the app-level token (``xapp-...``), not the bot token."""

DEFAULT_HISTORY_LIMIT = 100
DEFAULT_REPLIES_LIMIT = 1000
MAX_PAGE_LIMIT = 1000


@dataclass(frozen=True)
class ApiReply:
    """What the sandbox answers: an HTTP status, extra headers and a JSON body."""

    status: int
    body: JsonDict
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.body.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.body.get("error")
        return None if error is None else str(error)


@dataclass(frozen=True)
class CallRecord:
    """One call the sandbox received and what it answered."""

    method: str
    params: JsonDict
    at: datetime
    monotonic: float
    status: int
    ok: bool
    error: str | None
    retry_after: int | None = None


class CallLog:
    """Every recorded call, in arrival order; thread-safe; async waiters are woken on each call."""

    def __init__(self) -> None:
        self._records: list[CallRecord] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def append(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[CallRecord]:
        """Recorded calls, optionally of one method and only (un)successful ones."""
        with self._lock:
            return [
                r
                for r in self._records
                if (method is None or r.method == method) and (ok is None or r.ok == ok)
            ]

    def count(self, method: str | None = None, *, ok: bool | None = None) -> int:
        return len(self.calls(method, ok=ok))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    async def wait_for(
        self,
        method: str,
        *,
        count: int = 1,
        ok: bool | None = True,
        where: Callable[[CallRecord], bool] | None = None,
        within_seconds: float = 5.0,
    ) -> list[CallRecord]:
        """Wait until ``count`` matching calls were recorded and return them.

        Wakes on each recorded call (no polling); ``within_seconds`` is only a safety net that turns a
        missing call into a clear :class:`TimeoutError` instead of a hung test.
        """

        def matching() -> list[CallRecord]:
            return [r for r in self.calls(method, ok=ok) if where is None or where(r)]

        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._waiters.append(entry)
        try:
            async with asyncio.timeout(within_seconds):
                while len(found := matching()) < count:
                    await event.wait()
                    event.clear()
                return found
        except TimeoutError:
            seen = [r.method for r in self.calls()]
            raise TimeoutError(
                f"expected {count} call(s) of {method}, got {len(matching())}; calls seen: {seen}"
            ) from None
        finally:
            with self._lock:
                self._waiters.remove(entry)


Handler = Callable[[JsonDict], JsonDict]


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
        self._open_connection = open_connection
        """Issues a Socket Mode websocket URL (see :mod:`bot.sandbox.socket_mode`)."""
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
        self._handlers: dict[str, Handler] = {
            "api.test": lambda params: {"ok": True, "args": dict(params)},
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "bots.info": self._bots_info,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
        }

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
            reply = ApiReply(status=fault.status, body=copy.deepcopy(fault.body), headers=dict(fault.headers))
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
            return ApiReply(status=fault.status, body=copy.deepcopy(fault.body), headers=dict(fault.headers))
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

    def _message(self, message: Message, *, include_metadata: bool) -> JsonDict:
        return message.to_api(
            team_id=self.workspace.team_id,
            include_metadata=include_metadata,
            reply_users=self.workspace.reply_users(message),
        )

    # ------------------------------------------------------------------ methods

    def _apps_connections_open(self, params: JsonDict) -> JsonDict:
        if self._open_connection is None:
            raise SlackApiFailure("not_allowed")
        return {"ok": True, "url": self._open_connection()}

    def _auth_test(self, params: JsonDict) -> JsonDict:
        ws = self.workspace
        return {
            "ok": True,
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": ws.bot_name,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "app_id": ws.app_id,
            "is_enterprise_install": False,
        }

    def _bots_info(self, params: JsonDict) -> JsonDict:
        ws = self.workspace
        if as_str(params.get("bot")) != ws.bot_id:
            return {"ok": False, "error": "bot_not_found"}
        bot = {"id": ws.bot_id, "name": ws.bot_name, "app_id": ws.app_id, "user_id": ws.bot_user_id}
        return {"ok": True, "bot": {**bot, "deleted": False}}

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        message = self.workspace.post_message(
            channel=as_str(params.get("channel")),
            text=as_str(params.get("text")),
            blocks=blocks_param(params.get("blocks")),
            thread_ts=as_str(params.get("thread_ts")) or None,
            reply_broadcast=truthy(params.get("reply_broadcast")),
            metadata=metadata_param(params.get("metadata")),
        )
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "message": self._message(message, include_metadata=True),
        }

    def _chat_update(self, params: JsonDict) -> JsonDict:
        message = self.workspace.update_message(
            channel=as_str(params.get("channel")),
            ts=as_str(params.get("ts")),
            text=as_str(params.get("text")),
            blocks=blocks_param(params.get("blocks")),
            metadata=metadata_param(params.get("metadata")),
        )
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message(message, include_metadata=True),
        }

    def _chat_delete(self, params: JsonDict) -> JsonDict:
        message = self.workspace.delete_message(
            channel=as_str(params.get("channel")), ts=as_str(params.get("ts"))
        )
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        ephemeral = self.workspace.post_ephemeral(
            channel=as_str(params.get("channel")),
            user=as_str(params.get("user")),
            text=as_str(params.get("text")),
            blocks=blocks_param(params.get("blocks")),
            thread_ts=as_str(params.get("thread_ts")) or None,
        )
        return {"ok": True, "message_ts": ephemeral.ts}

    def _chat_get_permalink(self, params: JsonDict) -> JsonDict:
        channel = as_str(params.get("channel"))
        link = self.workspace.permalink(channel=channel, message_ts=as_str(params.get("message_ts")))
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        messages = self.workspace.history(channel=as_str(params.get("channel")))
        oldest = as_str(params.get("oldest"))
        latest = as_str(params.get("latest"))
        inclusive = truthy(params.get("inclusive"))
        messages = [m for m in messages if _within(m.ts, oldest=oldest, latest=latest, inclusive=inclusive)]
        return self._page(params, messages, default_limit=DEFAULT_HISTORY_LIMIT)

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        parent, *replies = self.workspace.replies(
            channel=as_str(params.get("channel")), ts=as_str(params.get("ts"))
        )
        oldest = as_str(params.get("oldest"))
        latest = as_str(params.get("latest"))
        inclusive = truthy(params.get("inclusive"))
        # The parent always comes first; oldest/latest narrow the replies.
        replies = [m for m in replies if _within(m.ts, oldest=oldest, latest=latest, inclusive=inclusive)]
        return self._page(params, [parent, *replies], default_limit=DEFAULT_REPLIES_LIMIT)

    def _page(self, params: JsonDict, messages: list[Message], *, default_limit: int) -> JsonDict:
        limit = _int_param(params.get("limit"), default_limit)
        start = _decode_cursor(as_str(params.get("cursor")))
        page = messages[start : start + limit]
        include_metadata = truthy(params.get("include_all_metadata"))
        has_more = start + limit < len(messages)
        return {
            "ok": True,
            "messages": [self._message(m, include_metadata=include_metadata) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": _encode_cursor(start + limit) if has_more else ""},
        }

    def _conversations_info(self, params: JsonDict) -> JsonDict:
        return {"ok": True, "channel": self.workspace.channel(as_str(params.get("channel"))).to_api()}

    def _view_reply(self, view: View) -> JsonDict:
        ws = self.workspace
        return {"ok": True, "view": view.to_api(team_id=ws.team_id, app_id=ws.app_id, bot_id=ws.bot_id)}

    def _views_open(self, params: JsonDict) -> JsonDict:
        view = self.workspace.open_view(
            trigger_id=as_str(params.get("trigger_id")), view=_json_param(params.get("view"))
        )
        return self._view_reply(view)

    def _views_push(self, params: JsonDict) -> JsonDict:
        view = self.workspace.push_view(
            trigger_id=as_str(params.get("trigger_id")), view=_json_param(params.get("view"))
        )
        return self._view_reply(view)

    def _views_update(self, params: JsonDict) -> JsonDict:
        view = self.workspace.update_view(
            view=_json_param(params.get("view")),
            view_id=as_str(params.get("view_id")),
            external_id=as_str(params.get("external_id")),
            hash=as_str(params.get("hash")),
        )
        return self._view_reply(view)

    def _views_publish(self, params: JsonDict) -> JsonDict:
        view = self.workspace.publish_view(
            user_id=as_str(params.get("user_id")),
            view=_json_param(params.get("view")),
            hash=as_str(params.get("hash")),
        )
        return self._view_reply(view)

    def _usergroups_list(self, params: JsonDict) -> JsonDict:
        groups = self.workspace.list_usergroups(include_disabled=truthy(params.get("include_disabled")))
        include_users = truthy(params.get("include_users"))
        team_id = self.workspace.team_id
        return {"ok": True, "usergroups": [g.to_api(team_id, include_users=include_users) for g in groups]}

    def _usergroups_users_list(self, params: JsonDict) -> JsonDict:
        users = self.workspace.usergroup_members(
            as_str(params.get("usergroup")), include_disabled=truthy(params.get("include_disabled"))
        )
        return {"ok": True, "users": users}

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = self.workspace.user(as_str(params.get("user")) or "")
        return {"ok": True, "user": user.to_api(self.workspace.team_id)}


# ---------------------------------------------------------------------- helpers


def _json_param(value: object) -> JsonDict | None:
    """A JSON object parameter (``view``) that form bodies carry as a string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise SlackApiFailure("invalid_arguments", detail="not valid JSON") from error
    return value if isinstance(value, dict) else None


def _int_param(value: object, default: int) -> int:
    try:
        number = int(str(value)) if value is not None else default
    except ValueError as error:
        raise SlackApiFailure("invalid_arguments", detail="limit must be a number") from error
    return max(1, min(number, MAX_PAGE_LIMIT)) if number > 0 else default


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != "offset":
            raise ValueError(cursor)
        return max(0, int(number))
    except ValueError as error:
        raise SlackApiFailure("invalid_cursor") from error


def _ts_number(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except InvalidOperation as error:
        raise SlackApiFailure("invalid_ts_oldest" if ts else "invalid_arguments") from error


def _within(ts: str, *, oldest: str | None, latest: str | None, inclusive: bool) -> bool:
    """Whether ``ts`` lies in the ``oldest``/``latest`` window (exact decimals, never floats)."""
    value = _ts_number(ts)
    if oldest:
        bound = _ts_number(oldest)
        if value < bound or (value == bound and not inclusive):
            return False
    if latest:
        bound = _ts_number(latest)
        if value > bound or (value == bound and not inclusive):
            return False
    return True
