"""Slack's Web API methods over a :class:`~bot.sandbox.workspace.Workspace`, one handler each.

:class:`WebApiMethods` turns one method's parsed parameters into its JSON answer, or raises
:class:`~bot.sandbox.models.SlackApiFailure` with Slack's error code. Auth, scopes, faults, rate
limits and recording come before, in :class:`~bot.sandbox.api.SandboxApi`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from bot.sandbox.content import blocks_param, metadata_param
from bot.sandbox.models import JsonDict, Message, SlackApiFailure, View, as_str, truthy
from bot.sandbox.workspace import Workspace

DEFAULT_HISTORY_LIMIT = 100
DEFAULT_REPLIES_LIMIT = 1000
MAX_PAGE_LIMIT = 1000

Handler = Callable[[JsonDict], JsonDict]


class WebApiMethods:
    """The Web API methods the sandbox implements, by name (:attr:`handlers`)."""

    def __init__(self, workspace: Workspace, *, open_connection: Callable[[], str] | None = None) -> None:
        self.workspace = workspace
        self._open_connection = open_connection
        """Issues a Socket Mode websocket URL (see :mod:`bot.sandbox.socket_mode`)."""
        self.handlers: dict[str, Handler] = {
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

    def _message(self, message: Message, *, include_metadata: bool) -> JsonDict:
        return message.to_api(
            team_id=self.workspace.team_id,
            include_metadata=include_metadata,
            reply_users=self.workspace.reply_users(message),
        )

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
        messages = _in_window(params, self.workspace.history(channel=as_str(params.get("channel"))))
        return self._page(params, messages, default_limit=DEFAULT_HISTORY_LIMIT)

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        parent, *replies = self.workspace.replies(
            channel=as_str(params.get("channel")), ts=as_str(params.get("ts"))
        )
        # The parent always comes first; oldest/latest narrow the replies.
        return self._page(params, [parent, *_in_window(params, replies)], default_limit=DEFAULT_REPLIES_LIMIT)

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


def _in_window(params: JsonDict, messages: list[Message]) -> list[Message]:
    """The messages inside the call's ``oldest`` / ``latest`` / ``inclusive`` window."""
    oldest = as_str(params.get("oldest"))
    latest = as_str(params.get("latest"))
    inclusive = truthy(params.get("inclusive"))
    return [m for m in messages if _within(m.ts, oldest=oldest, latest=latest, inclusive=inclusive)]


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
