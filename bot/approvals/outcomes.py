"""What the approval service hands back: detached views of its rows and typed outcomes.

Views are plain frozen data (no database session behind them), safe to pass to Block Kit
builders, the watcher or a log line. Every outcome carries the sentence to show the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.approvals.rules import GroupNeed
from bot.approvals.status import RequestStatus


@dataclass(frozen=True, slots=True)
class RequestView:
    """One action request as stored, with the users who approved it (in order)."""

    id: str
    requester: str
    verb: str
    action: str
    plan_id: str
    plan_name: str
    plan_state: str
    params: dict[str, Any]
    reason: str | None
    channel: str
    card_channel: str | None
    card_ts: str | None
    status: RequestStatus
    approvals_required: int
    approver_role: str
    approvers: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    executed_at: datetime | None
    vro_status: int | None
    vro_message: str | None
    status_reason: str | None
    # approvals: {all_of: [...]}: the groups, and who fills each (every person at most once)
    approval_groups: tuple[GroupNeed, ...] = ()
    groups_assigned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    groups_needed: str = ""  # "approval from app_owner (1)", "1 more approval from dr_lead or app_owner"
    # require_check in warn mode: why readiness was not proven when the request was made
    readiness_warning: str | None = None

    @property
    def approver_roles(self) -> tuple[str, ...]:
        """The roles whose holders may approve or deny this request."""
        return tuple(g.role for g in self.approval_groups) if self.approval_groups else (self.approver_role,)

    @property
    def groups_missing(self) -> dict[str, int]:
        """Approvals still missing per group (empty for a plain number of approvals)."""
        return {g.role: g.count - len(self.groups_assigned.get(g.role, ())) for g in self.approval_groups}

    held: bool = False  # approved, but its sender stopped: waits for a Send click
    param_names: dict[str, str] = field(default_factory=dict)  # ids in params -> what was typed

    @property
    def approvals_missing(self) -> int:
        if self.approval_groups:
            return sum(self.groups_missing.values())
        return max(0, self.approvals_required - len(self.approvers))

    @property
    def is_open(self) -> bool:
        """Still accepting decisions (pending; expiry is checked against the clock separately)."""
        return self.status is RequestStatus.PENDING


@dataclass(frozen=True, slots=True)
class AuditView:
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    event: str
    request_id: str | None
    plan_id: str | None
    plan_name: str | None
    detail: dict[str, Any]
    actor_team: str | None = None


class OutcomeKind(StrEnum):
    """What came of a call to the service."""

    PENDING = "pending"  # request created, waiting for approvals
    APPROVAL_RECORDED = "approval_recorded"  # approval stored, quorum not met yet
    APPROVED = "approved"  # approval stored, quorum met: the send follows (``execute_approved``)
    EXECUTED = "executed"  # VRO accepted the action
    FAILED = "failed"  # not sent (plan state, bad parameters) or VRO refused it
    OUTCOME_UNKNOWN = "outcome_unknown"  # sent, but the answer was lost; never resent
    IN_PROGRESS = "in_progress"  # another click or process is sending it
    DENIED = "denied"
    CANCELLED = "cancelled"
    REFUSED = "refused"  # the caller may not do this; nothing changed


class Refusal(StrEnum):
    """Why a call was refused (``Outcome.refusal`` when ``kind`` is ``REFUSED``)."""

    CHANNEL = "channel"
    ROLE = "role"
    REASON = "reason"
    PARAMS = "params"
    PLAN_STATE = "plan_state"
    NOT_FOUND = "not_found"
    SELF_APPROVAL = "self_approval"
    APPROVER_ROLE = "approver_role"
    ALREADY_DECIDED = "already_decided"
    NOT_REQUESTER = "not_requester"
    EXPIRED = "expired"
    CLOSED = "closed"
    READINESS = "readiness"  # require_check: the plan's readiness is not proven
    GROUP_FULL = "group_full"  # the approver's groups already have their approvals
    GROUPS_UNAVAILABLE = "groups_unavailable"  # a role depends on a user group Slack won't tell us about
    VIEWER_ROLE = "viewer_role"  # a read (query, App Home, form) without the viewer role
    WORKSPACE = "workspace"  # another workspace, enterprise or app
    DUPLICATE = "duplicate"  # the same action on the same plan already waits for approval


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of ``request`` / ``approve`` / ``deny`` / ``cancel``, with its user-facing message."""

    kind: OutcomeKind
    message: str
    request: RequestView | None = None
    refusal: Refusal | None = None

    @property
    def refused(self) -> bool:
        return self.kind is OutcomeKind.REFUSED
