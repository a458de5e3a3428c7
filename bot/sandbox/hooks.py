"""``response_url`` hooks of the sandbox workspace: what a command's or click's answers do."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
from bot.sandbox.content import blocks_param, check_message_content, metadata_param, with_block_ids
from bot.sandbox.messages import MessagesMixin
from bot.sandbox.models import (
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL_SECONDS,
    EphemeralMessage,
    Hook,
    HookPost,
    HookSource,
    Message,
    SlackApiFailure,
    as_str,
    truthy,
)


class HooksMixin(MessagesMixin):
    """The workspace's response_url hooks (mixed into :class:`~bot.sandbox.workspace.Workspace`)."""

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
            check_message_content(text, blocks)
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
