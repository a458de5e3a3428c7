"""Fakes for the approval service: a VRO gateway, a notifier and a group directory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approvals.outcomes import RequestView
from bot.approvals.policy import Policy
from bot.approvals.service import ApprovalService
from bot.clock import FakeClock
from bot.vro.actions import ActionResult, PlanAction
from bot.vro.errors import VroError
from bot.vro.models import Plan

PLAN_ID = "11111111-2222-3333-4444-555555555555"
PLAN_NAME = "SAP Tier1"


def ready_plan(**changes: Any) -> Plan:
    """A replica plan, enabled and ready: failover is allowed from here."""
    values: dict[str, Any] = {
        "id": PLAN_ID,
        "name": PLAN_NAME,
        "planType": "Replica",
        "state": "Ready",
        "planMode": "Enabled",
    }
    values.update(changes)
    return Plan.model_validate(values)


@dataclass
class FakeGateway:
    """VRO as the service sees it: a plan to re-read and a record of every action sent."""

    plan: Plan = field(default_factory=ready_plan)
    performed: list[tuple[PlanAction, str, dict[str, Any]]] = field(default_factory=list)
    plan_reads: int = 0
    read_error: BaseException | None = None
    perform_error: BaseException | None = None
    result_message: str = "VRO accepted the request."

    async def current_plan(self, plan_id: str) -> Plan:
        self.plan_reads += 1
        if self.read_error is not None:
            raise self.read_error
        return self.plan

    async def runtime(self, plan_id: str) -> dict[str, Any]:
        return {"id": plan_id, "state": self.plan.state, "isRunningState": False}

    async def perform(self, action: PlanAction, plan_id: str, params: Mapping[str, Any]) -> ActionResult:
        self.performed.append((action, plan_id, dict(params)))
        if self.perform_error is not None:
            raise self.perform_error
        return ActionResult(
            action=action, plan_id=plan_id, ok=True, status_code=200, message=self.result_message
        )


@dataclass
class FakeNotifier:
    unknown: list[RequestView] = field(default_factory=list)

    async def outcome_unknown(self, request: RequestView) -> None:
        self.unknown.append(request)


@dataclass
class FakeGroups:
    """A group directory the test can edit; counts lookups."""

    groups: dict[str, set[str]] = field(default_factory=dict)
    lookups: int = 0
    error: Exception | None = None

    async def members(self, handle: str) -> frozenset[str]:
        self.lookups += 1
        if self.error is not None:
            raise self.error
        return frozenset(self.groups.get(handle, set()))


class Crash(BaseException):
    """Stands for the process dying: nothing in the service may catch it."""


def vro_error(kind: type[VroError], message: str, *, status: int | None = None) -> VroError:
    return kind(message, method="POST", path=f"/Plans/{PLAN_ID}/Failover", status=status, vro_message=message)


ServiceFactory = Callable[..., ApprovalService]


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def groups() -> FakeGroups:
    return FakeGroups()


@pytest.fixture
def make_service(
    db_sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    gateway: FakeGateway,
    notifier: FakeNotifier,
    groups: FakeGroups,
) -> ServiceFactory:
    """Builds an ApprovalService on the test database; keyword arguments override the fakes."""

    def build(**overrides: Any) -> ApprovalService:
        args: dict[str, Any] = {
            "sessions": db_sessions,
            "clock": clock,
            "policy": Policy.builtin(),
            "groups": groups,
            "gateway": gateway,
            "notifier": notifier,
            "instance_id": "test-1",
        }
        args.update(overrides)
        return ApprovalService(**args)

    return build
