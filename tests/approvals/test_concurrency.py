"""Exactly one execution under concurrent clicks: one engine, two engines, two processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.approvals.outcomes import OutcomeKind, Refusal
from bot.approvals.policy import Policy
from bot.approvals.ports import AuditEvent
from bot.approvals.service import ApprovalService
from bot.clock import FakeClock
from bot.db import create_engine, session_factory
from tests.approvals.conftest import FakeGateway, FakeGroups, FakeNotifier, ServiceFactory, ready_plan

CLICKS = 50
REPO = Path(__file__).resolve().parents[2]


async def _one_approval_request(service: ApprovalService) -> str:
    outcome = await service.request(
        requester="U0REQ",
        verb="failover",
        action="Failover",
        plan=ready_plan(),
        params={},
        reason="INC-42",
        channel="C0INCIDENT",
    )
    assert outcome.request is not None
    return outcome.request.id


def _users(prefix: str, n: int) -> list[str]:
    return [f"U0{prefix}{i:03d}" for i in range(n)]


async def test_fifty_concurrent_approvals_execute_the_action_exactly_once(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service()
    request_id = await _one_approval_request(service)
    outcomes = await asyncio.gather(*(service.approve(request_id, u) for u in _users("A", CLICKS)))
    kinds = Counter(o.kind for o in outcomes)
    assert kinds[OutcomeKind.EXECUTED] == 1
    assert kinds[OutcomeKind.EXECUTED] + kinds[OutcomeKind.REFUSED] + kinds[OutcomeKind.IN_PROGRESS] == CLICKS
    assert len(gateway.performed) == 1
    view = await service.get(request_id)
    assert view is not None
    assert len(view.approvers) == 1  # the later clicks were refused, not recorded
    audit = Counter(e.event for e in await service.audit(limit=1000))
    assert (audit[AuditEvent.CLAIMED], audit[AuditEvent.VRO_ACCEPTED]) == (1, 1)


async def test_fifty_concurrent_clicks_by_one_user_count_once(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    service = make_service(policy=Policy.from_yaml("defaults: {approvals: 2}\n"))
    request_id = await _one_approval_request(service)
    outcomes = await asyncio.gather(*(service.approve(request_id, "U0LEAD1") for _ in range(CLICKS)))
    kinds = Counter((o.kind, o.refusal) for o in outcomes)
    assert kinds == {
        (OutcomeKind.APPROVAL_RECORDED, None): 1,
        (OutcomeKind.REFUSED, Refusal.ALREADY_DECIDED): CLICKS - 1,
    }
    view = await service.get(request_id)
    assert view is not None
    assert view.approvers == ("U0LEAD1",)
    assert gateway.performed == []


@pytest.mark.postgres
async def test_clicks_spread_over_two_engines_execute_exactly_once_on_postgresql(
    postgres_database_url: str, clock: FakeClock
) -> None:
    from bot.migrate import upgrade

    upgrade(postgres_database_url)
    gateway = FakeGateway()
    engine_a = create_engine(postgres_database_url)
    engine_b = create_engine(postgres_database_url)
    try:
        services = [
            ApprovalService(
                sessions=session_factory(engine),
                clock=clock,
                policy=Policy.builtin(),
                groups=FakeGroups(),
                gateway=gateway,
                notifier=FakeNotifier(),
                instance_id=name,
            )
            for name, engine in (("replica-a", engine_a), ("replica-b", engine_b))
        ]
        request_id = await _one_approval_request(services[0])
        users = _users("B", CLICKS)
        outcomes = await asyncio.gather(
            *(services[i % 2].approve(request_id, user) for i, user in enumerate(users))
        )
        assert Counter(o.kind for o in outcomes)[OutcomeKind.EXECUTED] == 1
        assert len(gateway.performed) == 1
    finally:
        await engine_a.dispose()
        await engine_b.dispose()


@pytest.mark.postgres
async def test_clicks_from_two_processes_execute_exactly_once_on_postgresql(
    postgres_database_url: str, clock: FakeClock
) -> None:
    from bot.migrate import upgrade

    upgrade(postgres_database_url)
    gateway = FakeGateway()
    engine = create_engine(postgres_database_url)
    try:
        service = ApprovalService(
            sessions=session_factory(engine),
            clock=clock,
            policy=Policy.builtin(),
            groups=FakeGroups(),
            gateway=gateway,
            notifier=FakeNotifier(),
            instance_id="process-1",
        )
        request_id = await _one_approval_request(service)
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.approvals._clicker",
            postgres_database_url,
            request_id,
            *_users("C", CLICKS // 2),
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        ours = await asyncio.gather(*(service.approve(request_id, u) for u in _users("P", CLICKS // 2)))
        out, err = await child.communicate()
        assert child.returncode == 0, err.decode()
        theirs = json.loads(out)
        executed = Counter(o.kind for o in ours)[OutcomeKind.EXECUTED] + theirs["kinds"].count("executed")
        assert executed == 1
        assert len(gateway.performed) + theirs["performed"] == 1
    finally:
        await engine.dispose()


async def test_a_deny_racing_approvals_either_stops_the_request_or_comes_too_late(
    make_service: ServiceFactory, gateway: FakeGateway
) -> None:
    """Never both: a denied request is not sent, and a sent request is not reported denied."""
    service = make_service()
    request_id = await _one_approval_request(service)
    users = _users("D", 10)
    outcomes = await asyncio.gather(
        service.deny(request_id, users[0]), *(service.approve(request_id, u) for u in users[1:])
    )
    view = await service.get(request_id)
    assert view is not None
    denied = outcomes[0].kind is OutcomeKind.DENIED
    if denied:
        assert view.status == "denied"
        assert gateway.performed == []
    else:
        assert view.status == "executed"
        assert len(gateway.performed) == 1
