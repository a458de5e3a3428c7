"""The approval service, one test per rule, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approvals import messages as msg
from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.policy import Policy
from bot.approvals.ports import AuditEvent, NoHooks
from bot.approvals.service import ApprovalService
from bot.approvals.status import RequestStatus
from bot.approvals.store import DEFAULT_CLAIM_TTL
from bot.approvals.tables import ActionRequest
from bot.clock import FakeClock
from bot.vro import plan_states
from bot.vro.actions import PlanAction
from bot.vro.errors import VroError, VroNotFound, VroOutcomeUnknown, VroRejected, VroUnavailable
from tests.approvals.conftest import (
    PLAN_ID,
    PLAN_NAME,
    Crash,
    FakeGateway,
    FakeGroups,
    FakeNotifier,
    ServiceFactory,
    ready_plan,
    vro_error,
)

REQUESTER = "U0REQ"
OTHER_PLAN_ID = "99999999-2222-3333-4444-555555555555"
LEAD1, LEAD2, LEAD3 = "U0LEAD1", "U0LEAD2", "U0LEAD3"
CHANNEL = "C0INCIDENT"
RUNNING_FAILOVER_REFUSAL = plan_states.refusal_reason(
    "Replica", "FailoverInProgress", "InUse", "Failover", plan_name=PLAN_NAME
)

TEAM_POLICY = """
channels: [C0INCIDENT]
roles:
  viewer:   {users: ["*"]}
  operator: {users: [U0REQ], groups: [dr-operators]}
  approver: {users: [U0LEAD1, U0LEAD2, U0LEAD3], groups: [dr-approvers]}
defaults: {role: operator, approvals: 1, approver_role: approver, ttl_minutes: 30}
actions:
  failover: {approvals: 2, reason_required: true}
  check:    {approvals: 0}
"""


@pytest.fixture
def team() -> Policy:
    return Policy.from_yaml(TEAM_POLICY)


async def ask(
    service: ApprovalService,
    *,
    requester: str = REQUESTER,
    verb: str = "failover",
    action: PlanAction = PlanAction.FAILOVER,
    params: dict[str, Any] | None = None,
    reason: str | None = "INC-42 site A lost",
    channel: str = CHANNEL,
    **plan_changes: Any,
) -> Outcome:
    return await service.request(
        requester=requester,
        verb=verb,
        action=action,
        plan=ready_plan(**plan_changes),
        params=params or {},
        reason=reason,
        channel=channel,
    )


async def pending_id(service: ApprovalService, **kwargs: Any) -> str:
    outcome = await ask(service, **kwargs)
    assert outcome.kind is OutcomeKind.PENDING, outcome.message
    assert outcome.request is not None
    return outcome.request.id


async def events(service: ApprovalService) -> list[str]:
    return [e.event for e in reversed(await service.audit(limit=1000))]


# --- requesting -----------------------------------------------------------------------------


async def test_a_request_is_stored_pending_with_a_snapshot_of_the_plan(
    make_service: ServiceFactory, team: Policy, clock: FakeClock
) -> None:
    service = make_service(policy=team)
    outcome = await ask(service, params={"execute_chained_plans": True})
    assert outcome.kind is OutcomeKind.PENDING
    assert outcome.message == msg.REQUEST_PENDING.format(
        verb="failover", plan=PLAN_NAME, needed="2 approvals", role="approver", ttl_minutes=30
    )
    view = outcome.request
    assert view is not None
    assert (view.requester, view.verb, view.action, view.status) == (
        REQUESTER,
        "failover",
        "Failover",
        RequestStatus.PENDING,
    )
    assert (view.plan_id, view.plan_name, view.plan_state) == (PLAN_ID, PLAN_NAME, "Ready")
    assert view.params == {"execute_chained_plans": True}
    assert view.reason == "INC-42 site A lost"
    assert (view.approvals_required, view.approver_role, view.approvers) == (2, "approver", ())
    assert view.created_at == clock.now()
    assert view.expires_at == clock.now() + timedelta(minutes=30)
    assert view.created_at.tzinfo is UTC  # aware on SQLite too
    assert await events(service) == [AuditEvent.REQUESTED]


async def test_request_ids_are_opaque_and_unique(make_service: ServiceFactory) -> None:
    service = make_service()
    ids = {await pending_id(service, id=f"{PLAN_ID[:-1]}{n}") for n in range(5)}
    assert len(ids) == 5
    assert all(PLAN_ID not in i and len(i) >= 16 for i in ids)


async def test_a_second_request_for_the_same_action_on_the_plan_points_to_the_waiting_one(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service()
    first = await pending_id(service)
    clock.advance(60)
    outcome = await ask(service, requester="U0OTHER")
    assert (outcome.kind, outcome.refusal) == (OutcomeKind.REFUSED, Refusal.DUPLICATE)
    assert first in outcome.message
    assert f"<@{REQUESTER}>" in outcome.message
    assert [v.id for v in await service.pending()] == [first]
    refused = [e for e in await service.audit(limit=10) if e.event == AuditEvent.REQUEST_REFUSED]
    assert [(e.actor, e.detail["refusal"], e.detail["waiting_request"]) for e in refused] == [
        ("U0OTHER", "duplicate", first)
    ]


async def test_another_action_or_another_plan_is_not_a_duplicate(make_service: ServiceFactory) -> None:
    service = make_service()
    await pending_id(service)
    await pending_id(service, verb="disable", action=PlanAction.DISABLE)
    await pending_id(service, id=OTHER_PLAN_ID, name="Exchange")
    assert len(await service.pending()) == 3


async def test_once_the_waiting_request_is_closed_the_action_may_be_asked_again(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service()
    first = await pending_id(service)
    await service.cancel(first, REQUESTER)
    second = await pending_id(service)
    clock.advance(timedelta(hours=2).total_seconds())  # past its expiry, not yet swept
    third = await pending_id(service)
    assert len({first, second, third}) == 3


async def test_two_requests_for_the_same_action_at_once_make_one_waiting_request(
    make_service: ServiceFactory,
) -> None:
    service = make_service()
    outcomes = await asyncio.gather(*(ask(service, requester=f"U0OPS{n}") for n in range(4)))
    kinds = sorted(str(o.kind) for o in outcomes)
    assert kinds.count(str(OutcomeKind.PENDING)) == 1, [o.message for o in outcomes]
    assert [o.refusal for o in outcomes if o.kind is OutcomeKind.REFUSED] == [Refusal.DUPLICATE] * 3
    assert len(await service.pending()) == 1


async def test_request_refused_outside_the_allowed_channels(
    make_service: ServiceFactory, team: Policy
) -> None:
    service = make_service(policy=team)
    outcome = await ask(service, channel="C0RANDOM")
    assert (outcome.kind, outcome.refusal, outcome.message) == (
        OutcomeKind.REFUSED,
        Refusal.CHANNEL,
        msg.CHANNEL_NOT_ALLOWED,
    )
    assert await service.pending() == []
    assert await events(service) == [AuditEvent.REQUEST_REFUSED]


async def test_request_refused_without_the_requester_role(
    make_service: ServiceFactory, team: Policy, groups: FakeGroups
) -> None:
    service = make_service(policy=team)
    outcome = await ask(service, requester="U0STRANGER")
    assert outcome.refusal is Refusal.ROLE
    assert outcome.message == msg.ROLE_REQUIRED_TO_REQUEST.format(role="operator", verb="failover")
    groups.groups["dr-operators"] = {"U0STRANGER"}  # membership through a group works
    assert (await ask(service, requester="U0STRANGER")).kind is OutcomeKind.PENDING


async def test_request_refused_without_a_reason_where_the_policy_requires_one(
    make_service: ServiceFactory, team: Policy
) -> None:
    service = make_service(policy=team)
    for reason in (None, "   "):
        outcome = await ask(service, reason=reason)
        assert outcome.refusal is Refusal.REASON
        assert outcome.message == msg.REASON_REQUIRED.format(verb="Failover")
    halt = await ask(service, verb="halt", action=PlanAction.HALT, reason=None, state="FailoverInProgress")
    assert halt.kind is OutcomeKind.PENDING  # halt does not require one


async def test_request_refused_when_the_plan_state_does_not_allow_the_action(
    make_service: ServiceFactory,
) -> None:
    service = make_service()
    outcome = await ask(service, state="FailoverInProgress", planMode="InUse")
    assert outcome.refusal is Refusal.PLAN_STATE
    assert outcome.message == msg.PLAN_STATE_REFUSED.format(reason=RUNNING_FAILOVER_REFUSAL)
    assert "Failover in progress" in outcome.message  # names the state
    entry = (await service.audit())[0]
    assert (entry.event, entry.actor, entry.plan_id) == (AuditEvent.REQUEST_REFUSED, REQUESTER, PLAN_ID)
    assert entry.detail["message"] == outcome.message


async def test_request_refused_with_bad_parameters(make_service: ServiceFactory) -> None:
    service = make_service()
    outcome = await ask(service, params={"full_stop": True})
    assert outcome.refusal is Refusal.PARAMS
    assert outcome.message.startswith("That can't be sent: Failover does not take full_stop")


async def test_an_action_with_zero_approvals_runs_at_once_with_the_same_audit_trail(
    make_service: ServiceFactory, team: Policy, gateway: FakeGateway
) -> None:
    service = make_service(policy=team)
    outcome = await ask(service, verb="check", action=PlanAction.READINESS_CHECK, reason=None)
    assert outcome.kind is OutcomeKind.EXECUTED
    assert outcome.message == f"VRO accepted check for *{PLAN_NAME}*. VRO accepted the request."
    assert gateway.performed == [(PlanAction.READINESS_CHECK, PLAN_ID, {})]
    assert await events(service) == [
        AuditEvent.REQUESTED,
        AuditEvent.APPROVED,
        AuditEvent.CLAIMED,
        AuditEvent.VRO_ACCEPTED,
    ]


# --- deciding -------------------------------------------------------------------------------


async def test_the_requester_cannot_approve_their_own_request(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    outcome = await service.approve(request_id, REQUESTER)
    assert (outcome.refusal, outcome.message) == (
        Refusal.SELF_APPROVAL,
        msg.SELF_APPROVAL.format(role="approver"),
    )
    assert gateway.performed == []
    view = await service.get(request_id)
    assert view is not None
    assert (view.status, view.approvers) == (RequestStatus.PENDING, ())


async def test_approvers_must_be_distinct_people(
    make_service: ServiceFactory, team: Policy, gateway: FakeGateway
) -> None:
    service = make_service(policy=team)
    request_id = await pending_id(service)
    first = await service.approve(request_id, LEAD1)
    assert first.kind is OutcomeKind.APPROVAL_RECORDED
    assert first.message == msg.APPROVAL_RECORDED.format(verb="failover", plan=PLAN_NAME, needed="1 approval")
    again = await service.approve(request_id, LEAD1)
    assert (again.refusal, again.message) == (
        Refusal.ALREADY_DECIDED,
        msg.ALREADY_APPROVED_BY_YOU.format(needed="1 approval"),
    )
    assert gateway.performed == []
    second = await service.approve(request_id, LEAD2)
    assert second.kind is OutcomeKind.EXECUTED
    assert second.request is not None
    assert second.request.approvers == (LEAD1, LEAD2)
    assert len(gateway.performed) == 1


async def test_the_approver_role_is_checked_at_click_time(
    make_service: ServiceFactory, team: Policy, groups: FakeGroups, gateway: FakeGateway
) -> None:
    groups.groups["dr-approvers"] = {"U0ONCALL"}
    service = make_service(policy=team)
    request_id = await pending_id(service)
    groups.groups["dr-approvers"] = set()  # left the group after the request was made
    outcome = await service.approve(request_id, "U0ONCALL")
    assert (outcome.refusal, outcome.message) == (
        Refusal.APPROVER_ROLE,
        msg.APPROVER_ROLE_REQUIRED.format(role="approver"),
    )
    denial = await service.deny(request_id, "U0ONCALL")
    assert denial.refusal is Refusal.APPROVER_ROLE
    groups.groups["dr-approvers"] = {"U0ONCALL"}
    assert (await service.approve(request_id, "U0ONCALL")).kind is OutcomeKind.APPROVAL_RECORDED
    assert gateway.performed == []


async def test_requests_expire_on_the_clock(
    make_service: ServiceFactory, clock: FakeClock, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    clock.advance(29 * 60)
    assert await service.expire_due() == []
    clock.advance(60)
    expired = await service.expire_due()
    assert [(v.id, v.status) for v in expired] == [(request_id, RequestStatus.EXPIRED)]
    assert await service.pending() == []
    outcome = await service.approve(request_id, LEAD1)
    assert (outcome.refusal, outcome.message) == (
        Refusal.EXPIRED,
        msg.CLOSED_EXPIRED.format(expires="2026-01-01 12:30"),
    )
    assert gateway.performed == []
    assert AuditEvent.EXPIRED in await events(service)


async def test_a_click_after_the_deadline_expires_the_request_before_the_sweep(
    make_service: ServiceFactory, clock: FakeClock, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    clock.advance(30 * 60)
    outcome = await service.approve(request_id, LEAD1)
    assert outcome.refusal is Refusal.EXPIRED
    view = await service.get(request_id)
    assert view is not None
    assert view.status is RequestStatus.EXPIRED
    assert await service.expire_due() == []  # already expired, reported once
    assert gateway.performed == []


class _Redraws(NoHooks):
    """Hooks that note each redraw of a card (what the runtime queues in the outbox)."""

    def __init__(self) -> None:
        self.changed_to: list[tuple[str, RequestStatus]] = []

    async def changed(self, session: AsyncSession, request: RequestView) -> None:
        self.changed_to.append((request.id, request.status))


@pytest.mark.parametrize("click", ["approve", "deny", "cancel"])
async def test_a_click_that_expires_the_request_redraws_its_card(
    make_service: ServiceFactory, clock: FakeClock, click: str
) -> None:
    # The sweep never sees a request a click expired: without a redraw here, the card would
    # show it pending, with live Approve / Deny buttons, for good.
    hooks = _Redraws()
    service = make_service(hooks=hooks)
    request_id = await pending_id(service)
    clock.advance(30 * 60)  # exactly at the deadline
    if click == "approve":
        outcome = await service.approve(request_id, LEAD1)
    elif click == "deny":
        outcome = await service.deny(request_id, LEAD1)
    else:
        outcome = await service.cancel(request_id, REQUESTER)
    assert outcome.refusal is Refusal.EXPIRED
    assert hooks.changed_to == [(request_id, RequestStatus.EXPIRED)]
    assert await service.expire_due() == []


async def test_one_deny_ends_the_request_whatever_the_quorum(
    make_service: ServiceFactory, team: Policy, gateway: FakeGateway
) -> None:
    service = make_service(policy=team)
    request_id = await pending_id(service)
    await service.approve(request_id, LEAD1)
    outcome = await service.deny(request_id, LEAD2)
    assert (outcome.kind, outcome.message) == (
        OutcomeKind.DENIED,
        msg.DENIED.format(verb="failover", plan=PLAN_NAME),
    )
    assert outcome.request is not None
    assert (outcome.request.status, outcome.request.decided_by) == (RequestStatus.DENIED, LEAD2)
    late = await service.approve(request_id, LEAD3)
    assert (late.refusal, late.message) == (Refusal.CLOSED, msg.CLOSED_DENIED.format(user=LEAD2))
    assert gateway.performed == []


async def test_the_requester_may_cancel_and_their_deny_counts_as_a_cancel(
    make_service: ServiceFactory,
) -> None:
    service = make_service()
    first = await pending_id(service)
    outcome = await service.cancel(first, REQUESTER)
    assert (outcome.kind, outcome.message) == (
        OutcomeKind.CANCELLED,
        msg.CANCELLED.format(verb="failover", plan=PLAN_NAME),
    )
    second = await pending_id(service)
    by_deny = await service.deny(second, REQUESTER)
    assert by_deny.kind is OutcomeKind.CANCELLED
    late = await service.approve(second, LEAD1)
    assert (late.refusal, late.message) == (Refusal.CLOSED, msg.CLOSED_CANCELLED.format(user=REQUESTER))
    assert [e for e in await events(service) if e == AuditEvent.CANCELLED] == ["cancelled", "cancelled"]


async def test_only_the_requester_may_cancel(make_service: ServiceFactory) -> None:
    service = make_service()
    request_id = await pending_id(service)
    outcome = await service.cancel(request_id, LEAD1)
    assert (outcome.refusal, outcome.message) == (
        Refusal.NOT_REQUESTER,
        msg.NOT_YOUR_REQUEST.format(requester=REQUESTER, role="approver"),
    )


async def test_an_executed_request_accepts_no_further_decisions(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    assert (await service.approve(request_id, LEAD1)).kind is OutcomeKind.EXECUTED
    for decide in (service.approve, service.deny):
        outcome = await decide(request_id, LEAD2)
        assert (outcome.refusal, outcome.message) == (Refusal.CLOSED, msg.CLOSED_EXECUTED)
    assert (await service.cancel(request_id, REQUESTER)).message == msg.CLOSED_EXECUTED
    assert len(gateway.performed) == 1


async def test_an_unknown_request_id_is_refused_kindly(make_service: ServiceFactory) -> None:
    service = make_service()
    for decide in (service.approve, service.deny, service.cancel):
        outcome = await decide("not-a-request", LEAD1)
        assert (outcome.refusal, outcome.message) == (Refusal.NOT_FOUND, msg.NOT_FOUND)


# --- sending --------------------------------------------------------------------------------


async def test_the_plan_state_is_checked_again_just_before_sending(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    gateway.plan = ready_plan(state="FailoverInProgress", planMode="InUse")  # someone started it in VRO
    outcome = await service.approve(request_id, LEAD1)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.message == msg.NOT_SENT_PLAN_STATE.format(reason=RUNNING_FAILOVER_REFUSAL)
    assert gateway.plan_reads == 1
    assert gateway.performed == []
    assert outcome.request is not None
    assert outcome.request.status is RequestStatus.FAILED
    assert outcome.request.status_reason == outcome.message
    assert (await events(service))[-1] == AuditEvent.NOT_SENT


async def test_a_plan_that_cannot_be_read_before_sending_is_not_sent(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    gateway.read_error = vro_error(VroNotFound, "Plan not found.", status=404)
    outcome = await service.approve(request_id, LEAD1)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.message == msg.NOT_SENT_PLAN_UNREADABLE.format(plan=PLAN_NAME, problem="Plan not found.")
    assert gateway.performed == []


async def test_vro_refusing_the_action_fails_the_request_with_vros_message(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    gateway.perform_error = vro_error(VroRejected, "Plan is locked by another session.", status=409)
    outcome = await service.approve(request_id, LEAD1)
    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.message == msg.VRO_REFUSED.format(
        verb="failover", plan=PLAN_NAME, problem="Plan is locked by another session."
    )
    assert outcome.request is not None
    assert (outcome.request.vro_status, outcome.request.vro_message) == (
        409,
        "Plan is locked by another session.",
    )
    entry = (await service.audit())[0]
    assert (entry.event, entry.detail["vro_status"]) == (AuditEvent.VRO_REFUSED, 409)


async def test_a_network_error_while_sending_leaves_the_outcome_unknown_and_never_resends(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    gateway.perform_error = vro_error(VroOutcomeUnknown, "The connection failed while sending Failover.")
    outcome = await service.approve(request_id, LEAD1)
    assert (outcome.kind, outcome.message) == (
        OutcomeKind.OUTCOME_UNKNOWN,
        msg.OUTCOME_UNKNOWN.format(verb="failover", plan=PLAN_NAME, plan_id=PLAN_ID),
    )
    gateway.perform_error = None
    assert (await service.approve(request_id, LEAD2)).message == msg.CLOSED_OUTCOME_UNKNOWN
    assert await service.reconcile_unknown(older_than=timedelta(0)) == []
    assert len(gateway.performed) == 1


@pytest.mark.parametrize(
    ("error", "status", "said"),
    [
        (VroRejected, 500, "Plan 'SAP Tier1' is locked by DOMAIN\\alice."),
        (VroUnavailable, 503, "VRO could not be reached for Failover (HTTP 503)."),
    ],
    ids=["500-with-a-message", "503"],
)
async def test_an_answer_from_vro_is_never_an_unknown_outcome(
    make_service: ServiceFactory,
    gateway: FakeGateway,
    error: type[VroError],
    status: int,
    said: str,
) -> None:
    """Only a connection that failed mid-send leaves the outcome unknown; VRO's words are shown."""
    service = make_service()
    request_id = await pending_id(service)
    gateway.perform_error = error(said, method="POST", path="/api/v13.2/Plans/x/Failover", status=status)
    outcome = await service.approve(request_id, LEAD1)
    assert outcome.kind is OutcomeKind.FAILED
    assert said in outcome.message
    assert len(gateway.performed) == 1


async def test_a_successful_send_records_vros_answer(
    make_service: ServiceFactory, gateway: FakeGateway, clock: FakeClock
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    clock.advance(90)
    outcome = await service.approve(request_id, LEAD1)
    assert outcome.kind is OutcomeKind.EXECUTED
    view = outcome.request
    assert view is not None
    assert (view.status, view.vro_status, view.vro_message) == (
        RequestStatus.EXECUTED,
        200,
        "VRO accepted the request.",
    )
    assert view.executed_at == view.decided_at == clock.now()
    assert view.approvers == (LEAD1,)


# --- crashes and recovery -------------------------------------------------------------------


async def test_a_crash_between_claim_and_send_is_reconciled_as_outcome_unknown_and_not_resent(
    make_service: ServiceFactory, gateway: FakeGateway, notifier: FakeNotifier, clock: FakeClock
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    gateway.perform_error = Crash()  # the process dies after the claim, with the POST in flight
    with pytest.raises(Crash):
        await service.approve(request_id, LEAD1)
    view = await service.get(request_id)
    assert view is not None
    assert view.status is RequestStatus.EXECUTING

    gateway.perform_error = None
    restarted = make_service(instance_id="test-2")
    assert await restarted.reconcile_unknown() == []  # a fresh claim may be a live send elsewhere
    clock.advance(DEFAULT_CLAIM_TTL.total_seconds() + 1)  # nobody renewed the claim: its sender died
    settled = await restarted.reconcile_unknown()
    assert [(v.id, v.status) for v in settled] == [(request_id, RequestStatus.OUTCOME_UNKNOWN)]
    assert settled[0].status_reason == msg.OUTCOME_UNKNOWN_AFTER_RESTART.format(
        verb="failover", plan=PLAN_NAME, plan_id=PLAN_ID
    )
    assert [v.id for v in notifier.unknown] == [request_id]

    assert await restarted.reconcile_unknown() == []  # reported once
    assert (await restarted.approve(request_id, LEAD2)).message == msg.CLOSED_OUTCOME_UNKNOWN
    assert len(gateway.performed) == 1  # the interrupted send, never a second
    entry = (await restarted.audit())[1]  # [0] is the refused click
    assert (entry.event, entry.actor, entry.detail["instance"]) == (
        AuditEvent.OUTCOME_UNKNOWN,
        "system",
        "test-2",
    )


async def test_a_crash_during_the_send_is_not_resent_after_reconciliation(
    make_service: ServiceFactory, gateway: FakeGateway, notifier: FakeNotifier
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    gateway.perform_error = Crash()
    with pytest.raises(Crash):
        await service.approve(request_id, LEAD1)
    gateway.perform_error = None
    settled = await make_service(instance_id="test-2").reconcile_unknown(older_than=timedelta(0))
    assert [v.status for v in settled] == [RequestStatus.OUTCOME_UNKNOWN]
    assert len(notifier.unknown) == 1
    assert len(gateway.performed) == 1  # the one interrupted send, never a second


async def test_an_approved_request_never_claimed_before_a_crash_is_held_not_sent(
    make_service: ServiceFactory,
    db_sessions: async_sessionmaker[AsyncSession],
    gateway: FakeGateway,
    notifier: FakeNotifier,
    clock: FakeClock,
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    async with db_sessions.begin() as session:  # the state a crash right after the quorum leaves
        await session.execute(
            update(ActionRequest)
            .where(ActionRequest.id == request_id)
            .values(status=RequestStatus.APPROVED, decided_at=clock.now())
        )
    assert await service.reconcile_unknown() == []  # its sender may be about to send it
    clock.advance(DEFAULT_CLAIM_TTL.total_seconds() + 1)
    settled = await service.reconcile_unknown()
    assert [(v.status, v.held, v.status_reason) for v in settled] == [
        (RequestStatus.APPROVED, True, msg.HELD_AFTER_RESTART)
    ]
    assert await service.reconcile_unknown() == []  # told once
    assert notifier.unknown == []
    # Held: a late sender (or a second click path) cannot send it by surprise.
    assert (await service.execute_approved(request_id, actor="system")).kind is OutcomeKind.IN_PROGRESS
    assert gateway.performed == []


async def test_send_on_a_held_request_checks_again_and_sends_it_once(
    make_service: ServiceFactory, gateway: FakeGateway, clock: FakeClock, team: Policy
) -> None:
    service = make_service(policy=team)
    request_id = await pending_id(service)
    await service.approve(request_id, LEAD1)
    assert (await service.approve(request_id, LEAD2, execute=False)).kind is OutcomeKind.APPROVED
    clock.advance(DEFAULT_CLAIM_TTL.total_seconds() + 1)  # the process died after recording the click
    (held,) = await make_service(policy=team, instance_id="test-2").reconcile_unknown()
    assert held.held
    refused = await service.send_held(request_id, "U0NOBODY")
    assert (refused.kind, refused.refusal) == (OutcomeKind.REFUSED, Refusal.APPROVER_ROLE)
    gateway.plan = ready_plan(state="FailoverComplete")  # the plan moved on meanwhile
    not_sent = await service.send_held(request_id, LEAD2)
    assert not_sent.kind is OutcomeKind.FAILED
    assert gateway.performed == []


async def test_send_on_a_held_request_whose_plan_is_still_ready_sends_it(
    make_service: ServiceFactory, gateway: FakeGateway, clock: FakeClock
) -> None:
    service = make_service()
    request_id = await pending_id(service)
    await service.approve(request_id, LEAD1, execute=False)
    clock.advance(DEFAULT_CLAIM_TTL.total_seconds() + 1)
    await service.reconcile_unknown()
    sent = await service.send_held(request_id, LEAD2)
    assert sent.kind is OutcomeKind.EXECUTED
    again = await service.send_held(request_id, LEAD2)
    assert again.kind is OutcomeKind.REFUSED
    assert len(gateway.performed) == 1


async def test_a_late_answer_settles_a_request_marked_unknown_meanwhile(
    make_service: ServiceFactory, db_sessions: async_sessionmaker[AsyncSession], gateway: FakeGateway
) -> None:
    """A slow send that outlives the claim timeout still records VRO's real answer."""
    service = make_service()
    request_id = await pending_id(service)
    other = make_service(instance_id="test-2")

    class SlowGateway(FakeGateway):
        async def perform(self, action: PlanAction, plan_id: str, params: Any) -> Any:
            await other.reconcile_unknown(older_than=timedelta(0))
            return await super().perform(action, plan_id, params)

    slow = SlowGateway()
    outcome = await make_service(gateway=slow).approve(request_id, LEAD1)
    assert outcome.kind is OutcomeKind.EXECUTED
    assert outcome.request is not None
    assert outcome.request.status is RequestStatus.EXECUTED
    assert len(slow.performed) == 1


# --- reading --------------------------------------------------------------------------------


async def test_attach_card_get_and_pending_oldest_first(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service()
    mine = await pending_id(service)
    clock.advance(1)
    theirs = await pending_id(service, requester="U0OTHER", id=OTHER_PLAN_ID, name="Exchange")
    await service.attach_card(mine, CHANNEL, "1700000000.000100")
    view = await service.get(mine)
    assert view is not None
    assert (view.card_channel, view.card_ts) == (CHANNEL, "1700000000.000100")
    assert [v.id for v in await service.pending()] == [mine, theirs]
    assert [v.id for v in await service.pending(REQUESTER)] == [mine]
    assert await service.get("nope") is None


async def test_the_audit_log_has_actor_time_request_and_plan_for_every_step(
    make_service: ServiceFactory, team: Policy, clock: FakeClock
) -> None:
    service = make_service(policy=team)
    request_id = await pending_id(service)
    await service.approve(request_id, REQUESTER)  # refused: own request
    clock.advance(10)
    await service.approve(request_id, LEAD1)
    clock.advance(10)
    await service.approve(request_id, LEAD2)
    entries = list(reversed(await service.audit(limit=100)))
    assert [(e.event, e.actor) for e in entries] == [
        (AuditEvent.REQUESTED, REQUESTER),
        (AuditEvent.DECISION_REFUSED, REQUESTER),
        (AuditEvent.APPROVAL, LEAD1),
        (AuditEvent.APPROVAL, LEAD2),
        (AuditEvent.APPROVED, LEAD2),
        (AuditEvent.CLAIMED, LEAD2),
        (AuditEvent.VRO_ACCEPTED, "test-1"),
    ]
    assert all(e.request_id == request_id and e.plan_id == PLAN_ID for e in entries)
    assert all(e.plan_name == PLAN_NAME and e.at.tzinfo is UTC for e in entries)
    assert entries[-1].at == clock.now()
    assert entries[4].detail["approvers"] == [LEAD1, LEAD2]
    assert await service.audit(plan_id="another-plan") == []
    assert len(await service.audit(plan_id=PLAN_ID, limit=3)) == 3


async def test_audit_rows_cannot_be_rewritten(
    make_service: ServiceFactory, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    service = make_service()
    await pending_id(service)
    with pytest.raises(Exception, match="append-only"):
        async with db_sessions.begin() as session:
            await session.execute(text("UPDATE audit_log SET actor = 'U0MALLORY'"))
    assert [e.actor for e in await service.audit()] == [REQUESTER]
