"""Messages of the sandbox workspace: post, update, delete, ephemerals, history, threads."""

from __future__ import annotations

import copy

from bot.sandbox.content import check_blocks, check_message_content, with_block_ids
from bot.sandbox.models import (
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    Channel,
    EphemeralMessage,
    JsonDict,
    Message,
    SlackApiFailure,
)
from bot.sandbox.state import WorkspaceState


class MessagesMixin(WorkspaceState):
    """Posting and reading messages, with Slack's access rules."""

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
            check_message_content(text, blocks)
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
            message = self._bot_message(channel, ts, "cant_update_message")
            if text is not None and len(text) > MAX_MESSAGE_TEXT:
                raise SlackApiFailure("msg_too_long")
            if blocks is not None:
                check_blocks(blocks, MAX_MESSAGE_BLOCKS)
                message.blocks = with_block_ids(blocks)
            if text is not None:
                message.text = text
            if not message.text and not message.blocks:
                raise SlackApiFailure("no_text")
            if metadata is not None:
                message.metadata = copy.deepcopy(metadata)
            message.edited_ts = self.next_ts()
            return message

    def _bot_message(self, channel: str | None, ts: str | None, not_ours: str) -> Message:
        """The message to edit or delete; ``not_ours`` is the error when the bot did not post it."""
        message = self.message(self.channel(channel).id, ts or "")
        if message.user != self.bot_user_id:
            raise SlackApiFailure(not_ours)
        return message

    def delete_message(self, *, channel: str | None, ts: str | None) -> Message:
        with self.lock:
            message = self._bot_message(channel, ts, "cant_delete_message")
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
            check_message_content(text, blocks)
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
