"""The state of a sandbox workspace (users, channels, messages, views, triggers, hooks) and the
lookups every part of it uses; :class:`~bot.sandbox.workspace.Workspace` adds the operations."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from typing import Any

from bot.clock import Clock
from bot.sandbox.content import find_element, ts_key
from bot.sandbox.models import (
    DEFAULT_APP_ID,
    DEFAULT_BOT_ID,
    DEFAULT_BOT_NAME,
    DEFAULT_BOT_USER_ID,
    DEFAULT_TEAM_DOMAIN,
    DEFAULT_TEAM_ID,
    Channel,
    EphemeralMessage,
    Hook,
    Message,
    SlackApiFailure,
    Trigger,
    User,
    UserGroup,
    View,
)


class WorkspaceState:
    """What a workspace holds, its setup, ids and clock, and the lookups its operations share."""

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
            return sorted(found, key=lambda m: ts_key(m.ts))

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
                key=lambda m: ts_key(m.ts),
            )
