"""The sandbox workspace's data: users, groups, channels, messages, views, triggers, hooks,
and the limits Slack holds them to."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

JsonDict = dict[str, Any]

TRIGGER_TTL_SECONDS = 3.0
"""A trigger_id can open a modal for 3 seconds after Slack issues it."""
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3_000
MAX_VIEW_STACK = 3
"""The root view plus two pushed views."""

DEFAULT_TEAM_ID = "T0SANDBOX"
DEFAULT_TEAM_DOMAIN = "vro-sandbox"
DEFAULT_BOT_USER_ID = "U0VROBOT"
DEFAULT_BOT_ID = "B0VROBOT"
DEFAULT_APP_ID = "A0VROBOT"
DEFAULT_BOT_NAME = "vro"


class SlackApiFailure(Exception):
    """An operation failed the way Slack reports it: ``{"ok": false, "error": error}``."""

    def __init__(self, error: str, *, detail: str | None = None) -> None:
        super().__init__(error if detail is None else f"{error}: {detail}")
        self.error = error
        self.detail = detail


@dataclass
class User:
    """A workspace member (``users.info``)."""

    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    is_restricted: bool = False
    deleted: bool = False
    tz: str = "Europe/Berlin"

    def to_api(self, team_id: str) -> JsonDict:
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "deleted": self.deleted,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_bot": self.is_bot,
            "is_restricted": self.is_restricted,
            "is_app_user": False,
            "tz": self.tz,
            "profile": {"real_name": self.real_name or self.name, "display_name": self.name},
        }


@dataclass
class UserGroup:
    """A user group (``usergroups.list`` / ``usergroups.users.list``)."""

    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    disabled: bool = False

    def to_api(self, team_id: str, *, include_users: bool) -> JsonDict:
        body: JsonDict = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "name": self.name,
            "handle": self.handle,
            "date_delete": 1 if self.disabled else 0,
            "user_count": len(self.users),
        }
        if include_users:
            body["users"] = list(self.users)
        return body


@dataclass
class Channel:
    """A conversation. ``members`` of None means every workspace user is a member."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    bot_is_member: bool = True
    members: set[str] | None = None
    is_archived: bool = False

    def has_member(self, user_id: str) -> bool:
        return self.members is None or user_id in self.members

    def to_api(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.is_archived,
            "is_member": self.bot_is_member,
        }


@dataclass
class Message:
    """A message in a channel, top-level or in a thread."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[JsonDict]
    thread_ts: str | None = None
    reply_broadcast: bool = False
    metadata: JsonDict | None = None
    bot_id: str | None = None
    app_id: str | None = None
    edited_ts: str | None = None
    deleted: bool = False
    replies: list[str] = field(default_factory=list)
    """The ts of each reply, oldest first (only on a thread's parent)."""

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, team_id: str, include_metadata: bool, reply_users: Sequence[str] = ()) -> JsonDict:
        body: JsonDict = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": team_id,
        }
        if self.bot_id is not None:
            body["bot_id"] = self.bot_id
            body["app_id"] = self.app_id
        if self.blocks:
            body["blocks"] = copy.deepcopy(self.blocks)
        if self.edited_ts is not None:
            body["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.is_reply:
            body["thread_ts"] = self.thread_ts
            if self.reply_broadcast:
                body["subtype"] = "thread_broadcast"
        elif self.replies:
            body["thread_ts"] = self.ts
            body["reply_count"] = len(self.replies)
            body["reply_users"] = list(reply_users)
            body["reply_users_count"] = len(reply_users)
            body["latest_reply"] = self.replies[-1]
        if include_metadata and self.metadata is not None:
            body["metadata"] = copy.deepcopy(self.metadata)
        return body


@dataclass
class EphemeralMessage:
    """A message only ``user`` sees (``chat.postEphemeral`` or an ephemeral ``response_url`` post)."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[JsonDict]
    thread_ts: str | None = None
    deleted: bool = False


@dataclass
class View:
    """A modal or a Home tab the bot opened, pushed, updated or published."""

    id: str
    user: str
    type: str
    view: JsonDict
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    state_values: JsonDict = field(default_factory=dict)
    closed: bool = False

    def to_api(self, *, team_id: str, app_id: str, bot_id: str) -> JsonDict:
        body = copy.deepcopy(self.view)
        body.update(
            {
                "id": self.id,
                "team_id": team_id,
                "type": self.type,
                "hash": self.hash,
                "state": {"values": copy.deepcopy(self.state_values)},
                "root_view_id": self.root_view_id,
                "previous_view_id": self.previous_view_id,
                "app_id": app_id,
                "app_installed_team_id": team_id,
                "bot_id": bot_id,
            }
        )
        body.setdefault("private_metadata", "")
        body.setdefault("callback_id", "")
        body.setdefault("external_id", "")
        body.setdefault("blocks", [])
        return body


@dataclass
class Trigger:
    """A trigger_id Slack handed to the bot with an interaction."""

    id: str
    user: str
    issued_at: float
    view_id: str | None = None
    used: bool = False


HookSource = Literal["command", "message", "ephemeral"]


@dataclass
class HookPost:
    """One body POSTed to a response_url, and what the sandbox made of it."""

    hook_id: str
    body: JsonDict
    at: datetime
    outcome: str
    """``replaced``, ``deleted``, ``posted``, ``ephemeral`` or an error code."""


@dataclass
class Hook:
    """A response_url: who it answers, and which message an interaction came from."""

    id: str
    channel: str
    user: str
    created_at: float
    source: HookSource = "command"
    message_ts: str | None = None
    uses: int = 0
    posts: list[HookPost] = field(default_factory=list)


def truthy(value: object) -> bool:
    """Slack's booleans arrive as JSON booleans, ``"true"``, or ``"1"`` (slack_sdk's GET params)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return False


def as_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(value)
