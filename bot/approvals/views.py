"""Request rows as the views and texts the service answers with (a row and its approvals in,
:class:`RequestView` out), and the small rules those texts need."""

from __future__ import annotations

from collections.abc import Sequence

from bot.approvals import messages as msg
from bot.approvals.membership import GroupLookupError
from bot.approvals.outcomes import AuditView, RequestView
from bot.approvals.policy import ActionRule
from bot.approvals.rules import CheckMode, CheckRule, GroupNeed, ReadinessVerdict, match_approvers
from bot.approvals.status import RequestStatus
from bot.approvals.tables import ActionRequest, AuditEntry
from bot.vro import plan_states
from bot.vro.models import Plan
from bot.vro.operations import spec_of


def state_refusal(plan: Plan, action: str) -> str | None:
    return plan_states.refusal_reason(
        plan.planType or "",
        plan.state or "",
        plan.planMode or "",
        action,
        plan_name=plan.name,
        name_action=verb_of,
    )


def verb_of(action: str) -> str:
    """The ``/vro`` verb that asks for VRO's ``action`` (as code), or VRO's name when none does."""
    try:
        return f"`{spec_of(action).verb}`"
    except KeyError:
        return action


def hhmm(row: ActionRequest) -> str:
    return row.expires_at.strftime("%Y-%m-%d %H:%M")


# each approver of a request with the group roles they held when they clicked, in click order
Approvals = Sequence[tuple[str, frozenset[str]]]


def request_view(row: ActionRequest, approvals: Approvals) -> RequestView:
    needs = group_needs(row)
    matching = match_approvers(needs, approvals) if needs else None
    return RequestView(
        id=row.id,
        requester=row.requester,
        verb=row.verb,
        action=row.action,
        plan_id=row.plan_id,
        plan_name=row.plan_name,
        plan_state=row.plan_state,
        params=dict(row.params),
        reason=row.reason,
        channel=row.channel,
        card_channel=row.card_channel,
        card_ts=row.card_ts,
        status=RequestStatus(row.status),
        approvals_required=row.approvals_required,
        approver_role=row.approver_role,
        approvers=tuple(user for user, _ in approvals),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        executed_at=row.executed_at,
        vro_status=row.vro_status,
        vro_message=row.vro_message,
        status_reason=row.status_reason,
        approval_groups=needs,
        groups_assigned=dict(matching.assigned) if matching else {},
        groups_needed=matching.needed_text() if matching else "",
        readiness_warning=row.readiness_warning,
        held=row.held_at is not None,
        param_names=dict(row.param_names or {}),
    )


def readiness_blocks(rule: ActionRule, verdict: ReadinessVerdict) -> bool:
    """Whether the readiness gate stops the action (``require_check`` in refuse mode, not proven)."""
    return rule.require_check is not None and rule.require_check.mode is CheckMode.REFUSE and not verdict.ok


def group_needs(row: ActionRequest) -> tuple[GroupNeed, ...]:
    return tuple(GroupNeed(str(g["role"]), int(g["count"])) for g in row.approval_groups or ())


def still_needed(row: ActionRequest, needs: Sequence[GroupNeed], approvals: Approvals) -> str:
    """``1 approval``, or ``approval from app_owner (1)`` for groups; ``nothing more`` when complete."""
    if needs:
        return match_approvers(needs, approvals).needed_text()
    return msg.count_of(max(row.approvals_required - len(approvals), 0), "approval")


def needed_text(view: RequestView) -> str:
    if view.approval_groups:
        return "approval from " + ", ".join(f"{g.role} ({g.count})" for g in view.approval_groups)
    return msg.count_of(view.approvals_required, "approval")


def hours_text(rule: CheckRule) -> str:
    hours = rule.max_age_hours
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def audit_view(entry: AuditEntry) -> AuditView:
    return AuditView(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        event=entry.event,
        request_id=entry.request_id,
        plan_id=entry.plan_id,
        plan_name=entry.plan_name,
        detail=dict(entry.detail),
        actor_team=entry.actor_team,
    )


def groups_unavailable(exc: GroupLookupError, what: str) -> str:
    """The refusal for a role that hangs on a user group Slack won't tell us about now."""
    return msg.GROUPS_UNAVAILABLE.format(group=exc.handle, problem=exc.problem, what=what)
