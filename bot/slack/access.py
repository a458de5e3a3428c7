"""The policy as every surface applies it before it reads or acts: channel, viewer role, groups.

Commands, page and plan-view buttons, the form (its plan picker, plan details and submission),
the App Home and watches all ask :class:`Access` the same two questions: may this channel be
used, and does this person hold the ``viewer`` role. A user-group lookup that fails past its
grace refuses, with a message that says so. Every refusal is written to the audit log.
Actions and decisions add their own rules in :class:`~bot.approvals.service.ApprovalService`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final, Protocol

from bot.approvals import messages as approval_messages
from bot.approvals.membership import GroupLookupError, GroupResolver
from bot.approvals.outcomes import Refusal
from bot.approvals.policy import QUERY_ROLE, Policy
from bot.approvals.views import groups_unavailable

log = logging.getLogger(__name__)

ROLE_REQUIRED_TO_QUERY: Final = (
    "You need the {role} role to look at VRO from Slack. Ask whoever runs the bot to add you."
)
ASK_FOR_ACCESS: Final = (
    "You don't have access to VRO from Slack yet. Ask whoever runs the bot to give you the {role} role."
)


class RefusalLog(Protocol):
    """Where refusals are audited (the approval service)."""

    async def record_refusal(
        self,
        *,
        actor: str,
        surface: str,
        refusal: Refusal,
        message: str,
        actor_team: str | None = None,
        **detail: Any,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal, with the sentence to show the person."""

    code: Refusal
    message: str


class Access:
    """Channel and viewer checks shared by every surface; refusals are audited."""

    def __init__(self, *, policy: Policy, groups: GroupResolver, audit: RefusalLog) -> None:
        self._policy = policy
        self._groups = groups
        self._audit = audit

    def channel_allowed(self, channel: str | None) -> bool:
        """Whether the policy's channel list lets ``/vro`` act or post in ``channel``."""
        return self._policy.channel_allowed(channel or "")

    async def refuse_read(self, user: str, *, surface: str, channel: str | None = None) -> Refused | None:
        """``None`` when ``user`` may read (in ``channel``, when the surface has one); else why not.

        ``channel`` is checked against the allow-list only when given: the App Home has none.
        """
        refused = None
        if channel is not None and not self.channel_allowed(channel):
            refused = Refused(Refusal.CHANNEL, approval_messages.CHANNEL_NOT_ALLOWED)
        else:
            try:
                if not await self._policy.has_role(user, QUERY_ROLE, self._groups):
                    refused = Refused(Refusal.VIEWER_ROLE, ROLE_REQUIRED_TO_QUERY.format(role=QUERY_ROLE))
            except GroupLookupError as exc:
                refused = Refused(Refusal.GROUPS_UNAVAILABLE, groups_unavailable(exc, "show you VRO data"))
        if refused is not None:
            await self.record(user, refused, surface=surface, channel=channel)
        return refused

    async def refuse_channel(self, user: str, channel: str | None, *, surface: str) -> Refused | None:
        """``None`` when ``channel`` is allowed; else the (audited) refusal."""
        if self.channel_allowed(channel):
            return None
        refused = Refused(Refusal.CHANNEL, approval_messages.CHANNEL_NOT_ALLOWED)
        await self.record(user, refused, surface=surface, channel=channel)
        return refused

    async def record(self, user: str, refused: Refused, *, surface: str, **detail: Any) -> None:
        """Audit ``refused`` (and log it)."""
        log.info("refused %s for %s: %s", surface, user, refused.code)
        await self._audit.record_refusal(
            actor=user, surface=surface, refusal=refused.code, message=refused.message, **detail
        )
