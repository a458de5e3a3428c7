"""Triggers and views (modals, pushed views, the Home tab) of the sandbox workspace."""

from __future__ import annotations

import hashlib

from bot.sandbox.content import check_view, view_with_block_ids
from bot.sandbox.models import MAX_VIEW_STACK, TRIGGER_TTL_SECONDS, JsonDict, SlackApiFailure, Trigger, View
from bot.sandbox.state import WorkspaceState


class ViewsMixin(WorkspaceState):
    """The workspace's trigger ids and views (mixed into :class:`~bot.sandbox.workspace.Workspace`)."""

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

    def _modal_call(self, trigger_id: str | None, view: JsonDict | None) -> tuple[JsonDict, Trigger]:
        """``views.open`` / ``views.push``: the view (checked as a modal) and its trigger, used up."""
        if not isinstance(view, dict):
            raise SlackApiFailure("invalid_arguments", detail="view is required")
        check_view(view, ("modal",))
        return view, self._take_trigger(trigger_id)

    def _new_view(
        self, *, user: str, view: JsonDict, allowed: tuple[str, ...], previous: View | None
    ) -> View:
        view_type = check_view(view, allowed)
        view_id = self._next_id("V")
        stored = View(
            id=view_id,
            user=user,
            type=view_type,
            view=view_with_block_ids(view),
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
            view, trigger = self._modal_call(trigger_id, view)
            for old in self.modal_stacks.get(trigger.user, []):
                self.views[old].closed = True
            stored = self._new_view(user=trigger.user, view=view, allowed=("modal",), previous=None)
            self.modal_stacks[trigger.user] = [stored.id]
            return stored

    def push_view(self, *, trigger_id: str | None, view: JsonDict | None) -> View:
        """``views.push``: on top of the user's open modal, at most :data:`MAX_VIEW_STACK` deep."""
        with self.lock:
            view, trigger = self._modal_call(trigger_id, view)
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
            check_view(view, (stored.type,))
            if hash is not None and hash != stored.hash:
                raise SlackApiFailure("hash_conflict")
            stored.view = view_with_block_ids(view)
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
            check_view(view, ("home",))
            if current is None:
                stored = self._new_view(user=user_id, view=view, allowed=("home",), previous=None)
                self.home_views[user_id] = stored.id
                return stored
            current.view = view_with_block_ids(view)
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
                stored.view = view_with_block_ids((ack or {})["view"])
                stored.hash = self._view_hash(view_id)
            elif action == "push" and isinstance((ack or {}).get("view"), dict):
                stack = self.modal_stacks.setdefault(user_id, [])
                pushed = self._new_view(
                    user=user_id, view=(ack or {})["view"], allowed=("modal",), previous=self.views[view_id]
                )
                stack.append(pushed.id)
            # "errors" leaves the modal open with messages next to the inputs.
