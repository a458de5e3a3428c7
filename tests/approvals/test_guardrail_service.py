"""The approval service with the guardrails: the readiness gate and approvals from distinct groups."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approvals import messages as msg
from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.policy import Policy
from bot.approvals.ports import AuditEvent
from bot.approvals.service import ApprovalService
from bot.approvals.tables import AuditEntry
from bot.clock import FakeClock
from bot.vro.actions import PlanAction
from bot.vro.models import Plan
from tests.approvals.conftest import FakeGateway, ServiceFactory, ready_plan

LEAD = "U0LEAD1"
OWNER = "U0APP1"
BOTH = "U0BOTH1"
LEAD2 = "U0LEAD2"
REQUESTER = "U0REQ1"

POLICY = f"""
roles:
  viewer:    {{users: ["*"]}}
  operator:  {{users: ["*"]}}
  approver:  {{users: ["*"]}}
  dr_lead:   {{users: [{LEAD}, {LEAD2}, {BOTH}]}}
  app_owner: {{users: [{OWNER}, {BOTH}]}}
actions:
  failover:
    approvals: {{all_of: [{{role: dr_lead, count: 1}}, {{role: app_owner, count: 1}}]}}
    require_check: {{max_age_hours: 24}}
  restore:
    require_check: {{max_age_hours: 24, mode: warn}}
"""


def checked_plan(
    clock: FakeClock, *, hours_ago: float | None, result: str = "Success", **changes: object
) -> Plan:
    when = None if hours_ago is None else clock.now() - timedelta(hours=hours_ago)
    return ready_plan(currentCheckResult=result, lastCheckTime=when, **changes)


async def _request(service: ApprovalService, plan: Plan, verb: str = "failover") -> Outcome:
    action = PlanAction.FAILOVER if verb == "failover" else PlanAction.RESTORE
    return await service.request(
        requester=REQUESTER, verb=verb, action=action, plan=plan, params={}, reason="INC-7", channel="C0INC"
    )


def _made(outcome: Outcome) -> RequestView:
    assert outcome.request is not None, outcome.message
    return outcome.request


async def _events(sessions: async_sessionmaker[AsyncSession]) -> list[AuditEntry]:
    async with sessions() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


# --- the readiness gate ------------------------------------------------------------------------


async def test_a_stale_check_refuses_the_request_and_records_why(
    make_service: ServiceFactory, clock: FakeClock, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    outcome = await _request(service, checked_plan(clock, hours_ago=30))
    assert outcome.kind is OutcomeKind.REFUSED
    assert outcome.refusal is Refusal.READINESS
    assert outcome.message == msg.READINESS_REFUSED.format(
        problem="The last readiness check passed 30 hours ago, longer ago than the 24 hours this action allows.",
        verb="failover",
        plan="SAP Tier1",
        limit="24 hours",
    )
    assert await service.pending() == []
    (refused,) = await _events(db_sessions)
    assert refused.event == AuditEvent.REQUEST_REFUSED
    assert (refused.detail["refusal"], refused.detail["readiness"]) == ("readiness", "stale")


async def test_a_failed_or_missing_check_refuses_and_a_recent_pass_lets_the_request_through(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    failed = await _request(service, checked_plan(clock, hours_ago=1, result="Error"))
    never = await _request(service, checked_plan(clock, hours_ago=None, result="Undefined"))
    assert failed.refusal is Refusal.READINESS
    assert never.refusal is Refusal.READINESS
    fresh = await _request(service, checked_plan(clock, hours_ago=2))
    assert fresh.kind is OutcomeKind.PENDING
    assert _made(fresh).readiness_warning is None


async def test_warn_mode_lets_the_request_through_with_the_warning_on_it(
    make_service: ServiceFactory, clock: FakeClock, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    plan = checked_plan(clock, hours_ago=None, result="Undefined", planType="Restore")
    outcome = await _request(service, plan, verb="restore")
    assert outcome.kind is OutcomeKind.PENDING
    assert _made(outcome).readiness_warning == "No readiness check has run on this plan."
    assert "Readiness not proven: No readiness check has run on this plan." in outcome.message
    (requested,) = await _events(db_sessions)
    assert requested.detail["readiness_warning"] == "No readiness check has run on this plan."


async def test_readiness_lapsing_while_approvals_come_in_stops_the_send(
    make_service: ServiceFactory, clock: FakeClock, gateway: FakeGateway
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    outcome = await _request(service, checked_plan(clock, hours_ago=23.75))
    request_id = _made(outcome).id
    await service.approve(request_id, LEAD)
    clock.advance(20 * 60)  # the request is still open; the check is now over 24 hours old
    gateway.plan = checked_plan(clock, hours_ago=24.1)
    final = await service.approve(request_id, OWNER)
    assert final.kind is OutcomeKind.FAILED
    assert final.message.startswith("Not sent to VRO: The last readiness check passed 24 hours ago")
    assert gateway.performed == []


# --- approvals from distinct groups ------------------------------------------------------------


async def test_a_person_holding_both_roles_fills_one_group_and_a_lead_completes_it(
    make_service: ServiceFactory,
    clock: FakeClock,
    gateway: FakeGateway,
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    gateway.plan = checked_plan(clock, hours_ago=1)
    outcome = await _request(service, gateway.plan)
    request_id = _made(outcome).id
    assert _made(outcome).groups_missing == {"dr_lead": 1, "app_owner": 1}

    first = await service.approve(request_id, BOTH)
    assert first.kind is OutcomeKind.APPROVAL_RECORDED
    assert first.request is not None
    assert first.request.approvals_missing == 1
    assert first.message == msg.APPROVAL_RECORDED.format(
        verb="failover", plan="SAP Tier1", needed="1 more approval from dr_lead or app_owner"
    )

    # BOTH first took dr_lead; the matching moves them to app_owner to make room for LEAD.
    second = await service.approve(request_id, LEAD)
    assert second.kind is OutcomeKind.EXECUTED
    assert len(gateway.performed) == 1
    assert second.request is not None
    assert second.request.groups_assigned == {"dr_lead": (LEAD,), "app_owner": (BOTH,)}
    approved = next(e for e in await _events(db_sessions) if e.event == AuditEvent.APPROVED)
    assert approved.detail["groups"] == {"dr_lead": [LEAD], "app_owner": [BOTH]}


async def test_two_leads_never_make_up_for_a_missing_app_owner(
    make_service: ServiceFactory, clock: FakeClock, gateway: FakeGateway
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    outcome = await _request(service, checked_plan(clock, hours_ago=1))
    request_id = _made(outcome).id
    await service.approve(request_id, LEAD)
    extra = await service.approve(request_id, LEAD2)
    assert extra.refusal is Refusal.GROUP_FULL
    assert extra.message == msg.GROUP_ALREADY_FILLED.format(
        roles="dr_lead", needed="approval from app_owner (1)"
    )
    view = await service.get(request_id)
    assert view is not None
    assert view.approvers == (LEAD,)
    assert gateway.performed == []


async def test_someone_in_none_of_the_groups_may_not_approve(
    make_service: ServiceFactory, clock: FakeClock
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    outcome = await _request(service, checked_plan(clock, hours_ago=1))
    refused = await service.approve(_made(outcome).id, "U0NOBODY")
    assert refused.refusal is Refusal.APPROVER_ROLE
    assert refused.message == msg.APPROVER_GROUPS_REQUIRED.format(roles="dr_lead, app_owner")


async def test_roles_count_as_held_at_click_time(
    make_service: ServiceFactory, clock: FakeClock, gateway: FakeGateway
) -> None:
    """BOTH's approval was stored with both roles; it still counts after the policy file changes."""
    service = make_service(policy=Policy.from_yaml(POLICY))
    gateway.plan = checked_plan(clock, hours_ago=1)
    outcome = await _request(service, gateway.plan)
    request_id = _made(outcome).id
    await service.approve(request_id, BOTH)
    narrower = Policy.from_yaml(POLICY.replace(f"[{OWNER}, {BOTH}]", f"[{OWNER}]"))
    done = await make_service(policy=narrower).approve(request_id, LEAD)
    assert done.kind is OutcomeKind.EXECUTED
    assert len(gateway.performed) == 1


async def test_a_passed_check_lifts_the_warning_of_the_plan_s_open_requests(
    make_service: ServiceFactory, clock: FakeClock, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    service = make_service(policy=Policy.from_yaml(POLICY))
    plan = checked_plan(clock, hours_ago=None, result="Undefined", planType="Restore")
    request_id = _made(await _request(service, plan, verb="restore")).id
    async with db_sessions.begin() as session:
        assert await service.readiness_proven(session, plan.id, actor="watch:1") == [request_id]
    view = await service.get(request_id)
    assert view is not None
    assert view.readiness_warning is None
    assert view.status.value == "pending"
    proven = [e for e in await _events(db_sessions) if e.event == AuditEvent.READINESS_PROVEN]
    assert [(e.request_id, e.detail["warning"]) for e in proven] == [
        (request_id, "No readiness check has run on this plan.")
    ]
    async with db_sessions.begin() as session:  # nothing left to lift
        assert await service.readiness_proven(session, plan.id, actor="watch:2") == []
