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

from bot.sandbox.hooks import HooksMixin
from bot.sandbox.models import (
    SlackApiFailure,
    UserGroup,
)
from bot.sandbox.views import ViewsMixin


class Workspace(HooksMixin, ViewsMixin):
    """One Slack workspace with the bot installed. All operations are synchronous and pure."""

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
