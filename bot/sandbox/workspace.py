"""The sandbox's Slack workspace: users, user groups, channels, messages, threads, views, hooks.

Pure state and rules, no HTTP: every operation either returns a value or raises
:class:`SlackApiFailure` carrying the error code Slack itself would answer with
(``message_not_found``, ``not_in_channel``, ``expired_trigger_id`` ...). The HTTP layer
(:mod:`bot.sandbox.server`) turns these into ``{"ok": false, "error": ...}`` bodies.

Time comes from the injected :class:`~bot.clock.Clock`: message ``ts`` values follow
``clock.now()`` (strictly increasing even when the clock stands still) and trigger ids expire
on ``clock.monotonic()``, so a test advances a ``FakeClock`` to expire one.

A re-entrant lock guards every public operation: the loopback server runs in its own thread
while a test reads the state from another.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from bot.clock import Clock

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


class Workspace:
    """One Slack workspace with the bot installed. All operations are synchronous and pure."""

    def __init__(
        self,
        *,
        clock: Clock,
        team_id: str = DEFAULT_TEAM_ID,
        team_domain: str = DEFAULT_TEAM_DOMAIN,
        team_name: str = "VRO Sandbox",
        bot_user_id: str = DEFAULT_BOT_USER_ID,
        bot_id: str = DEFAULT_BOT_ID,
        app_id: str = DEFAULT_APP_ID,
        bot_name: str = DEFAULT_BOT_NAME,
        chat_write_public: bool = False,
        usergroups_enabled: bool = True,
    ) -> None:
        self.clock = clock
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.chat_write_public = chat_write_public
        """Whether the bot holds ``chat:write.public`` (post in public channels without joining)."""
        self.usergroups_enabled = usergroups_enabled
        """False models a Free workspace: user-group methods answer ``plan_upgrade_required``."""
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, UserGroup] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[EphemeralMessage] = []
        self.views: dict[str, View] = {}
        self.home_views: dict[str, str] = {}
        """user id -> id of the Home view published for that user."""
        self.modal_stacks: dict[str, list[str]] = {}
        """user id -> ids of the open modal views, root first."""
        self.triggers: dict[str, Trigger] = {}
        self.hooks: dict[str, Hook] = {}
        self._last_ts = (0, 0)
        self._ids = itertools.count(1)
        self.add_user(bot_user_id, bot_name, is_bot=True)

    # ------------------------------------------------------------------ setup

    def add_user(self, user_id: str, name: str, **attributes: Any) -> User:
        """Add (or replace) a member; ``attributes`` are :class:`User` fields."""
        with self.lock:
            user = User(id=user_id, name=name, **attributes)
            self.users[user_id] = user
            return user

    def add_usergroup(self, group_id: str, handle: str, users: Iterable[str], *, name: str = "") -> UserGroup:
        with self.lock:
            group = UserGroup(id=group_id, handle=handle, name=name or handle, users=list(users))
            self.usergroups[group_id] = group
            return group

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        bot_is_member: bool = True,
        members: Iterable[str] | None = None,
    ) -> Channel:
        with self.lock:
            channel = Channel(
                id=channel_id,
                name=name,
                is_private=is_private,
                bot_is_member=bot_is_member,
                members=None if members is None else set(members),
            )
            self.channels[channel_id] = channel
            return channel

    # ------------------------------------------------------------------ ids and time

    def next_ts(self) -> str:
        """A message ts from the clock, strictly greater than every ts issued before."""
        with self.lock:
            now = self.clock.now()
            candidate = (int(now.timestamp()), now.microsecond)
            if candidate <= self._last_ts:
                seconds, micros = self._last_ts
                candidate = (seconds + 1, 0) if micros == 999_999 else (seconds, micros + 1)
            self._last_ts = candidate
            return f"{candidate[0]}.{candidate[1]:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    # ------------------------------------------------------------------ lookups

    def user(self, user_id: str) -> User:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise SlackApiFailure("user_not_found")
            return user

    def channel(self, channel_id: str | None) -> Channel:
        with self.lock:
            channel = self.channels.get(channel_id or "")
            if channel is None:
                raise SlackApiFailure("channel_not_found")
            return channel

    def message(self, channel_id: str, ts: str) -> Message:
        with self.lock:
            message = self.messages.get((channel_id, ts))
            if message is None or message.deleted:
                raise SlackApiFailure("message_not_found")
            return message

    def top_level(self, channel_id: str) -> list[Message]:
        """The channel's top-level messages (and broadcast replies), oldest first."""
        with self.lock:
            found = [
                m
                for (channel, _), m in self.messages.items()
                if channel == channel_id and not m.deleted and (not m.is_reply or m.reply_broadcast)
            ]
            return sorted(found, key=lambda m: _ts_key(m.ts))

    def thread(self, channel_id: str, parent_ts: str) -> list[Message]:
        """The thread's replies, oldest first (the parent excluded)."""
        with self.lock:
            parent = self.messages.get((channel_id, parent_ts))
            if parent is None:
                return []
            replies = [self.messages[(channel_id, ts)] for ts in parent.replies]
            return [m for m in replies if not m.deleted]

    def ephemerals_for(self, channel_id: str, user_id: str | None = None) -> list[EphemeralMessage]:
        with self.lock:
            return [
                e
                for e in self.ephemerals
                if e.channel == channel_id and not e.deleted and (user_id is None or e.user == user_id)
            ]

    def open_modal(self, user_id: str) -> View | None:
        """The modal on top of the user's stack, if one is open."""
        with self.lock:
            stack = self.modal_stacks.get(user_id) or []
            return self.views[stack[-1]] if stack else None

    def home_view(self, user_id: str) -> View | None:
        with self.lock:
            view_id = self.home_views.get(user_id)
            return None if view_id is None else self.views[view_id]

    def find_message_with_action(self, channel_id: str, action_id: str) -> list[Message]:
        """Messages in the channel (threads included) holding an element with ``action_id``."""
        with self.lock:
            return sorted(
                (
                    m
                    for (channel, _), m in self.messages.items()
                    if channel == channel_id
                    and not m.deleted
                    and find_element(m.blocks, action_id) is not None
                ),
                key=lambda m: _ts_key(m.ts),
            )

    # ------------------------------------------------------------------ messages

    def _require_post_access(self, channel: Channel) -> None:
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if channel.bot_is_member:
            return
        if self.chat_write_public and not channel.is_private and not channel.is_im:
            return
        raise SlackApiFailure("not_in_channel")

    def _resolve_channel_for_post(self, channel_id: str | None) -> Channel:
        if channel_id and channel_id[0] in "UW" and channel_id in self.users:
            return self.dm_channel(channel_id)
        return self.channel(channel_id)

    def dm_channel(self, user_id: str) -> Channel:
        """The bot's direct-message channel with ``user_id`` (opened on first use)."""
        with self.lock:
            return self._dm_channel(user_id)

    def _dm_channel(self, user_id: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and channel.members == {user_id, self.bot_user_id}:
                return channel
        dm = Channel(
            id=self._next_id("D"),
            name=user_id,
            is_im=True,
            members={user_id, self.bot_user_id},
        )
        self.channels[dm.id] = dm
        return dm

    def post_message(
        self,
        *,
        channel: str | None,
        text: str | None = None,
        blocks: list[JsonDict] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        metadata: JsonDict | None = None,
        user: str | None = None,
        enforce_membership: bool = True,
    ) -> Message:
        """``chat.postMessage`` (``user`` None means the bot posts)."""
        with self.lock:
            target = self._resolve_channel_for_post(channel)
            if enforce_membership and user is None:
                self._require_post_access(target)
            _check_message_content(text, blocks)
            parent: Message | None = None
            if thread_ts:
                parent = self.messages.get((target.id, thread_ts))
                if parent is None or parent.deleted:
                    raise SlackApiFailure("thread_not_found")
                if parent.is_reply:
                    # Slack files a reply to a reply under the thread's parent.
                    parent = self.messages[(target.id, parent.thread_ts or "")]
            message = Message(
                channel=target.id,
                ts=self.next_ts(),
                user=user or self.bot_user_id,
                text=text or "",
                blocks=with_block_ids(blocks or []),
                thread_ts=None if parent is None else parent.ts,
                reply_broadcast=parent is not None and reply_broadcast,
                metadata=copy.deepcopy(metadata),
                bot_id=None if user else self.bot_id,
                app_id=None if user else self.app_id,
            )
            self.messages[(target.id, message.ts)] = message
            if parent is not None:
                parent.replies.append(message.ts)
            return message

    def update_message(
        self,
        *,
        channel: str | None,
        ts: str | None,
        text: str | None = None,
        blocks: list[JsonDict] | None = None,
        metadata: JsonDict | None = None,
    ) -> Message:
        """``chat.update``: omitted ``blocks`` keep the old ones; ``blocks=[]`` clears them."""
        with self.lock:
            target = self.channel(channel)
            message = self.message(target.id, ts or "")
            if message.user != self.bot_user_id:
                raise SlackApiFailure("cant_update_message")
            if text is not None and len(text) > MAX_MESSAGE_TEXT:
                raise SlackApiFailure("msg_too_long")
            if blocks is not None:
                _check_blocks(blocks, MAX_MESSAGE_BLOCKS)
                message.blocks = with_block_ids(blocks)
            if text is not None:
                message.text = text
            if not message.text and not message.blocks:
                raise SlackApiFailure("no_text")
            if metadata is not None:
                message.metadata = copy.deepcopy(metadata)
            message.edited_ts = self.next_ts()
            return message

    def delete_message(self, *, channel: str | None, ts: str | None) -> Message:
        with self.lock:
            target = self.channel(channel)
            message = self.message(target.id, ts or "")
            if message.user != self.bot_user_id:
                raise SlackApiFailure("cant_delete_message")
            message.deleted = True
            return message

    def post_ephemeral(
        self,
        *,
        channel: str | None,
        user: str | None,
        text: str | None = None,
        blocks: list[JsonDict] | None = None,
        thread_ts: str | None = None,
        enforce_membership: bool = True,
    ) -> EphemeralMessage:
        """``chat.postEphemeral``: only ``user`` sees it; it can never be ``chat.update``d."""
        with self.lock:
            target = self.channel(channel)
            if enforce_membership:
                self._require_post_access(target)
            if not user or user not in self.users:
                raise SlackApiFailure("user_not_found")
            if not target.has_member(user):
                raise SlackApiFailure("user_not_in_channel")
            _check_message_content(text, blocks)
            ephemeral = EphemeralMessage(
                channel=target.id,
                user=user,
                ts=self.next_ts(),
                text=text or "",
                blocks=with_block_ids(blocks or []),
                thread_ts=thread_ts,
            )
            self.ephemerals.append(ephemeral)
            return ephemeral

    def ephemeral(self, channel: str, ts: str) -> EphemeralMessage:
        with self.lock:
            for message in self.ephemerals:
                if message.channel == channel and message.ts == ts and not message.deleted:
                    return message
            raise SlackApiFailure("message_not_found")

    def permalink(self, *, channel: str | None, message_ts: str | None) -> str:
        with self.lock:
            target = self.channel(channel)
            message = self.message(target.id, message_ts or "")
            link = f"https://{self.team_domain}.slack.com/archives/{target.id}/p{message.ts.replace('.', '')}"
            if message.is_reply:
                link += f"?thread_ts={message.thread_ts}&cid={target.id}"
            return link

    def _require_history_access(self, channel: Channel) -> None:
        if not channel.bot_is_member:
            raise SlackApiFailure("not_in_channel")

    def history(self, *, channel: str | None) -> list[Message]:
        """``conversations.history``: top-level messages, newest first."""
        with self.lock:
            target = self.channel(channel)
            self._require_history_access(target)
            return list(reversed(self.top_level(target.id)))

    def replies(self, *, channel: str | None, ts: str | None) -> list[Message]:
        """``conversations.replies``: the parent then its replies; ``ts`` may name any of them."""
        with self.lock:
            target = self.channel(channel)
            self._require_history_access(target)
            message = self.messages.get((target.id, ts or ""))
            if message is None or message.deleted:
                raise SlackApiFailure("thread_not_found")
            parent = (
                self.messages[(target.id, message.thread_ts)]
                if message.is_reply and message.thread_ts
                else message
            )
            return [parent, *self.thread(target.id, parent.ts)]

    def reply_users(self, message: Message) -> list[str]:
        with self.lock:
            seen: dict[str, None] = {}
            for reply in self.thread(message.channel, message.ts):
                seen.setdefault(reply.user, None)
            return list(seen)

    # ------------------------------------------------------------------ user groups

    def list_usergroups(self, *, include_disabled: bool = False) -> list[UserGroup]:
        with self.lock:
            if not self.usergroups_enabled:
                raise SlackApiFailure("plan_upgrade_required")
            return [g for g in self.usergroups.values() if include_disabled or not g.disabled]

    def usergroup_members(self, group_id: str | None, *, include_disabled: bool = False) -> list[str]:
        with self.lock:
            if not self.usergroups_enabled:
                raise SlackApiFailure("plan_upgrade_required")
            group = self.usergroups.get(group_id or "")
            if group is None or (group.disabled and not include_disabled):
                raise SlackApiFailure("no_such_subteam")
            return list(group.users)

    # ------------------------------------------------------------------ triggers and views

    def issue_trigger(self, user_id: str, *, view_id: str | None = None) -> str:
        """Register a trigger_id as Slack does when it delivers an interaction to the bot."""
        with self.lock:
            number = next(self._ids)
            digest = hashlib.sha256(f"{self.team_id}:{number}".encode()).hexdigest()[:32]
            trigger_id = f"{int(self.clock.now().timestamp())}.{number}.{digest}"
            self.triggers[trigger_id] = Trigger(
                id=trigger_id, user=user_id, issued_at=self.clock.monotonic(), view_id=view_id
            )
            return trigger_id

    def _take_trigger(self, trigger_id: str | None) -> Trigger:
        trigger = self.triggers.get(trigger_id or "")
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if self.clock.monotonic() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        trigger.used = True
        return trigger

    def _new_view(
        self, *, user: str, view: JsonDict, allowed: tuple[str, ...], previous: View | None
    ) -> View:
        view_type = _check_view(view, allowed)
        view_id = self._next_id("V")
        stored = View(
            id=view_id,
            user=user,
            type=view_type,
            view=_view_with_block_ids(view),
            hash=self._view_hash(view_id),
            root_view_id=view_id if previous is None else previous.root_view_id,
            previous_view_id=None if previous is None else previous.id,
        )
        self.views[view_id] = stored
        return stored

    def _view_hash(self, view_id: str) -> str:
        return f"{int(self.clock.now().timestamp())}.{next(self._ids)}{view_id[-4:]}"

    def open_view(self, *, trigger_id: str | None, view: JsonDict | None) -> View:
        """``views.open``: a fresh modal stack for the trigger's user."""
        with self.lock:
            if not isinstance(view, dict):
                raise SlackApiFailure("invalid_arguments", detail="view is required")
            _check_view(view, ("modal",))
            trigger = self._take_trigger(trigger_id)
            for old in self.modal_stacks.get(trigger.user, []):
                self.views[old].closed = True
            stored = self._new_view(user=trigger.user, view=view, allowed=("modal",), previous=None)
            self.modal_stacks[trigger.user] = [stored.id]
            return stored

    def push_view(self, *, trigger_id: str | None, view: JsonDict | None) -> View:
        """``views.push``: on top of the user's open modal, at most :data:`MAX_VIEW_STACK` deep."""
        with self.lock:
            if not isinstance(view, dict):
                raise SlackApiFailure("invalid_arguments", detail="view is required")
            _check_view(view, ("modal",))
            trigger = self._take_trigger(trigger_id)
            stack = self.modal_stacks.get(trigger.user) or []
            if not stack:
                raise SlackApiFailure("not_found", detail="no modal is open to push onto")
            if len(stack) >= MAX_VIEW_STACK:
                raise SlackApiFailure("push_limit_reached")
            stored = self._new_view(
                user=trigger.user, view=view, allowed=("modal",), previous=self.views[stack[-1]]
            )
            stack.append(stored.id)
            return stored

    def update_view(
        self,
        *,
        view: JsonDict | None,
        view_id: str | None = None,
        external_id: str | None = None,
        hash: str | None = None,
    ) -> View:
        """``views.update`` by ``view_id`` or ``external_id``; a stale ``hash`` is a ``hash_conflict``."""
        with self.lock:
            if not isinstance(view, dict):
                raise SlackApiFailure("invalid_arguments", detail="view is required")
            stored = self._find_view(view_id=view_id, external_id=external_id)
            _check_view(view, (stored.type,))
            if hash is not None and hash != stored.hash:
                raise SlackApiFailure("hash_conflict")
            stored.view = _view_with_block_ids(view)
            stored.hash = self._view_hash(stored.id)
            return stored

    def _find_view(self, *, view_id: str | None, external_id: str | None) -> View:
        if view_id:
            found = self.views.get(view_id)
            if found is not None and not found.closed:
                return found
        elif external_id:
            for candidate in self.views.values():
                if candidate.view.get("external_id") == external_id and not candidate.closed:
                    return candidate
        raise SlackApiFailure("not_found")

    def publish_view(self, *, user_id: str | None, view: JsonDict | None, hash: str | None = None) -> View:
        """``views.publish``: the user's Home tab."""
        with self.lock:
            if not isinstance(view, dict):
                raise SlackApiFailure("invalid_arguments", detail="view is required")
            if not user_id or user_id not in self.users:
                raise SlackApiFailure("user_not_found")
            current = self.home_view(user_id)
            if current is not None and hash is not None and hash != current.hash:
                raise SlackApiFailure("hash_conflict")
            _check_view(view, ("home",))
            if current is None:
                stored = self._new_view(user=user_id, view=view, allowed=("home",), previous=None)
                self.home_views[user_id] = stored.id
                return stored
            current.view = _view_with_block_ids(view)
            current.hash = self._view_hash(current.id)
            return current

    def close_modals(self, user_id: str) -> None:
        """The user dismissed (or a submission cleared) every modal."""
        with self.lock:
            for view_id in self.modal_stacks.pop(user_id, []):
                self.views[view_id].closed = True

    def pop_modal(self, user_id: str) -> None:
        """A submission acked with no response action closes the top modal."""
        with self.lock:
            stack = self.modal_stacks.get(user_id) or []
            if stack:
                self.views[stack.pop()].closed = True

    def apply_view_submission_ack(self, user_id: str, view_id: str, ack: JsonDict | None) -> None:
        """Apply the bot's answer to a view_submission as Slack would."""
        with self.lock:
            action = (ack or {}).get("response_action")
            if action is None:
                self.pop_modal(user_id)
            elif action == "clear":
                self.close_modals(user_id)
            elif action == "update" and isinstance((ack or {}).get("view"), dict):
                stored = self.views[view_id]
                stored.view = _view_with_block_ids((ack or {})["view"])
                stored.hash = self._view_hash(view_id)
            elif action == "push" and isinstance((ack or {}).get("view"), dict):
                stack = self.modal_stacks.setdefault(user_id, [])
                pushed = self._new_view(
                    user=user_id, view=(ack or {})["view"], allowed=("modal",), previous=self.views[view_id]
                )
                stack.append(pushed.id)
            # "errors" leaves the modal open with messages next to the inputs.

    # ------------------------------------------------------------------ response_url hooks

    def show_command_response(self, channel: str, user: str, body: Mapping[str, Any]) -> str:
        """What Slack does with a slash command's immediate answer (the HTTP body or the Socket
        Mode ack): shown to the invoker only, or posted with ``response_type: in_channel``."""
        with self.lock:
            transient = Hook(id="", channel=channel, user=user, created_at=0.0, source="command")
            return self._apply_hook_post(transient, body)

    def new_hook(
        self, *, channel: str, user: str, source: HookSource = "command", message_ts: str | None = None
    ) -> Hook:
        """Register a response_url for an interaction in ``channel`` by ``user``."""
        with self.lock:
            hook_id = (
                f"{self.team_id}/{next(self._ids)}/"
                + hashlib.sha256(f"hook:{self.team_id}:{len(self.hooks)}".encode()).hexdigest()[:24]
            )
            hook = Hook(
                id=hook_id,
                channel=channel,
                user=user,
                created_at=self.clock.monotonic(),
                source=source,
                message_ts=message_ts,
            )
            self.hooks[hook_id] = hook
            return hook

    def post_to_hook(self, hook_id: str, body: Mapping[str, Any]) -> HookPost:
        """A POST to a response_url: replace or delete the source message, or post a new one."""
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                raise SlackApiFailure("no_service")
            if self.clock.monotonic() - hook.created_at > RESPONSE_URL_TTL_SECONDS:
                raise SlackApiFailure("expired_url")
            if hook.uses >= RESPONSE_URL_MAX_USES:
                raise SlackApiFailure("used_url")
            hook.uses += 1
            payload = dict(body)
            post = HookPost(hook_id=hook_id, body=payload, at=self.clock.now(), outcome="")
            hook.posts.append(post)
            try:
                post.outcome = self._apply_hook_post(hook, payload)
            except SlackApiFailure as failure:
                post.outcome = failure.error
                raise
            return post

    def _apply_hook_post(self, hook: Hook, body: Mapping[str, Any]) -> str:
        text = as_str(body.get("text"))
        blocks = blocks_param(body.get("blocks"))
        if truthy(body.get("delete_original")):
            self._hook_original(hook, delete=True)
            return "deleted"
        if truthy(body.get("replace_original")) and hook.source != "command":
            _check_message_content(text, blocks)
            original = self._hook_original(hook, delete=False)
            # A replacement, not an edit: blocks left out are gone (unlike chat.update).
            original.blocks = with_block_ids(blocks or [])
            original.text = text or ""
            if isinstance(original, Message):
                original.edited_ts = self.next_ts()
            return "replaced"
        thread_ts = as_str(body.get("thread_ts"))
        if body.get("response_type") == "in_channel":
            self.post_message(
                channel=hook.channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                metadata=metadata_param(body.get("metadata")),
                enforce_membership=False,
            )
            return "posted"
        self.post_ephemeral(
            channel=hook.channel,
            user=hook.user,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            enforce_membership=False,
        )
        return "ephemeral"

    def _hook_original(self, hook: Hook, *, delete: bool) -> Message | EphemeralMessage:
        if hook.message_ts is None:
            raise SlackApiFailure("message_not_found", detail="this response_url has no original message")
        original: Message | EphemeralMessage
        if hook.source == "ephemeral":
            original = self.ephemeral(hook.channel, hook.message_ts)
        else:
            original = self.message(hook.channel, hook.message_ts)
        if delete:
            original.deleted = True
        return original


# ---------------------------------------------------------------------- helpers


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def ts_to_datetime(ts: str) -> datetime:
    """The moment a Slack ts names (UTC)."""
    seconds, micros = _ts_key(ts)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def _check_blocks(blocks: list[JsonDict], limit: int) -> None:
    if len(blocks) > limit:
        raise SlackApiFailure("invalid_blocks", detail=f"{len(blocks)} blocks; at most {limit}")
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackApiFailure("invalid_blocks", detail="every block needs a type")


def _check_message_content(text: str | None, blocks: list[JsonDict] | None) -> None:
    if not text and not blocks:
        raise SlackApiFailure("no_text")
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise SlackApiFailure("msg_too_long")
    if blocks:
        _check_blocks(blocks, MAX_MESSAGE_BLOCKS)


def _check_view(view: JsonDict, allowed: tuple[str, ...]) -> str:
    view_type = view.get("type")
    if view_type not in allowed:
        raise SlackApiFailure("invalid_arguments", detail=f"view type must be {' or '.join(allowed)}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        raise SlackApiFailure("invalid_arguments", detail="view.blocks is required")
    _check_blocks(blocks, MAX_VIEW_BLOCKS)
    if view_type == "modal":
        title = view.get("title")
        if not isinstance(title, dict) or not isinstance(title.get("text"), str):
            raise SlackApiFailure("invalid_arguments", detail="a modal needs a plain_text title")
        for key in ("title", "submit", "close"):
            part = view.get(key)
            if isinstance(part, dict) and len(str(part.get("text", ""))) > MAX_VIEW_TITLE:
                raise SlackApiFailure("invalid_arguments", detail=f"view.{key} must be at most 24 characters")
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        raise SlackApiFailure("invalid_arguments", detail="private_metadata must be at most 3000 characters")
    return str(view_type)


def blocks_param(value: object) -> list[JsonDict] | None:
    """``blocks`` as a list (JSON bodies) or a JSON string (form bodies)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise SlackApiFailure("invalid_blocks_format") from error
    if not isinstance(value, list):
        raise SlackApiFailure("invalid_blocks_format")
    return [b if isinstance(b, dict) else {} for b in value]


def metadata_param(value: object) -> JsonDict | None:
    """``metadata`` must be ``{"event_type": str, "event_payload": object}``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise SlackApiFailure("invalid_metadata_format") from error
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise SlackApiFailure("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}


def with_block_ids(blocks: Sequence[JsonDict]) -> list[JsonDict]:
    """A deep copy of ``blocks`` where each block without a block_id gets one, as Slack does."""
    copied = copy.deepcopy(list(blocks))
    for index, block in enumerate(copied):
        if not block.get("block_id"):
            digest = hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()[:5]
            block["block_id"] = f"{digest}{index}"
    return copied


def _view_with_block_ids(view: JsonDict) -> JsonDict:
    copied = copy.deepcopy(view)
    copied["blocks"] = with_block_ids(view.get("blocks") or [])
    return copied


def find_element(
    blocks: Sequence[JsonDict], action_id: str, value: str | None = None
) -> tuple[str, JsonDict] | None:
    """The first interactive element with ``action_id`` (and ``value``, if given) and its block_id."""
    for block in blocks:
        block_id = str(block.get("block_id") or "")
        candidates: list[object] = []
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        accessory = block.get("accessory")
        if accessory is not None:
            candidates.append(accessory)
        if block.get("type") == "input":
            candidates.append(block.get("element"))
        for element in candidates:
            if (
                isinstance(element, dict)
                and element.get("action_id") == action_id
                and (value is None or element.get("value") == value)
            ):
                return block_id, element
    return None
