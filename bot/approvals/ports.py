"""What the approval service needs from outside: VRO (:class:`PlanGateway`), the workspace,
the Slack side of a request's life (:class:`RequestHooks`), a notifier, and the audit event type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.approvals.outcomes import OutcomeKind, RequestView
from bot.vro.actions import ActionResult, PlanAction
from bot.vro.models import Plan


class AuditEvent:
    """The ``event`` column of the audit log."""

    REQUESTED = "requested"
    REQUEST_REFUSED = "request_refused"
    APPROVAL = "approval"
    APPROVED = "approved"  # the quorum was met
    DENIED = "denied"
    CANCELLED = "cancelled"
    DECISION_REFUSED = "decision_refused"
    EXPIRED = "expired"
    CLAIMED = "claimed"  # this instance is about to send
    NOT_SENT = "not_sent"  # refused at the last moment (plan state, parameters, VRO unreadable)
    VRO_ACCEPTED = "vro_accepted"
    VRO_REFUSED = "vro_refused"
    OUTCOME_UNKNOWN = "outcome_unknown"
    ACCESS_REFUSED = "access_refused"  # a read or a request refused before it reached the service's rules
    HELD = "held"  # approved, but its sender stopped before sending: waits for a Send click
    SEND_REQUESTED = "send_requested"  # someone clicked Send on a held request
    READINESS_PROVEN = "readiness_proven"  # a passed check lifted an open request's readiness warning


class Workspace(Protocol):
    """The Slack workspace the bot serves (learned from ``auth.test``); its id goes in every audit line."""

    @property
    def team_id(self) -> str | None: ...


class PlanGateway(Protocol):
    """The two VRO calls execution needs (the runtime implements it over ``VroClient``)."""

    async def current_plan(self, plan_id: str) -> Plan:
        """The plan as VRO sees it now."""
        ...

    async def perform(self, action: PlanAction, plan_id: str, params: Mapping[str, Any]) -> ActionResult:
        """Send ``action``; raises :class:`~bot.vro.errors.VroError` subclasses on failure."""
        ...

    async def runtime(self, plan_id: str) -> dict[str, Any]:
        """The plan's RuntimeDetails now, as JSON (the watch's baseline)."""
        ...


class RequestHooks(Protocol):
    """What the rest of the bot writes in the same transaction as a request's state change.

    The runtime's implementation queues the channel's messages in the outbox (the card, its
    redraws, the thread lines) and opens / activates / closes the action's watch, so what the
    channel will be told commits with the change itself.
    """

    def wants_baseline(self, action: str) -> bool:
        """Whether ``action`` gets a watch (and so a RuntimeDetails baseline before sending)."""
        ...

    async def created(self, session: AsyncSession, request: RequestView) -> None:
        """A new request (post its card)."""
        ...

    async def changed(self, session: AsyncSession, request: RequestView) -> None:
        """A decision, an expiry or a claim changed what the card shows (redraw it)."""
        ...

    async def claimed(
        self, session: AsyncSession, request: RequestView, baseline: dict[str, Any] | None
    ) -> None:
        """About to send (open the watch, ``sending``, with its baseline)."""
        ...

    async def answered(
        self, session: AsyncSession, request: RequestView, kind: OutcomeKind, text: str
    ) -> None:
        """The send ended: executed, failed (not sent or refused) or outcome unknown."""
        ...

    async def held(self, session: AsyncSession, request: RequestView) -> None:
        """Approved but never sent: its sender stopped; the channel must be told."""
        ...


class NoHooks:
    """Hooks that write nothing (the approval service on its own, e.g. in its tests)."""

    def wants_baseline(self, action: str) -> bool:
        return False

    async def created(self, session: AsyncSession, request: RequestView) -> None:
        return None

    async def changed(self, session: AsyncSession, request: RequestView) -> None:
        return None

    async def claimed(
        self, session: AsyncSession, request: RequestView, baseline: dict[str, Any] | None
    ) -> None:
        return None

    async def answered(
        self, session: AsyncSession, request: RequestView, kind: OutcomeKind, text: str
    ) -> None:
        return None

    async def held(self, session: AsyncSession, request: RequestView) -> None:
        return None


class Notifier(Protocol):
    """Tells humans about requests that need their attention outside a click's reply."""

    async def outcome_unknown(self, request: RequestView) -> None:
        """``request`` may or may not have run in VRO; someone must look."""
        ...
