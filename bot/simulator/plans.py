"""The simulated VRO server's objects: a live plan, its schedule, an action's parameters, settings.

Plain data for :mod:`bot.simulator.world` and :mod:`bot.simulator.core`, and :class:`SimError`,
the one way an operation is refused (an HTTP status and VRO's ``{"Message": ...}`` text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TypeVar

from bot.simulator.engine import Layout, Run
from bot.simulator.estate import PlanSpec
from bot.vro import plan_states as ps

T = TypeVar("T")


class SimError(Exception):
    """An operation refused with an HTTP status and VRO's ``{"Message": ...}`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(kind: str, ident: str) -> SimError:
    return SimError(404, f"{kind} with id '{ident}' was not found.")


def lookup(table: Mapping[str, T], kind: str, ident: str) -> T:
    """``table``'s entry for ``ident`` (ids are case-insensitive, keys lower-case), or VRO's 404."""
    found = table.get(ident.lower())
    if found is None:
        raise not_found(kind, ident)
    return found


@dataclass
class Schedule:
    type: str  # "OnTime" | "AfterPlan"
    start_time: datetime | None = None
    previous_plan_id: str | None = None
    options: dict[str, object] = field(default_factory=dict)


@dataclass
class LivePlan:
    """A plan as the server knows it now: its definition plus its mutable state."""

    spec: PlanSpec
    layout: Layout
    mode: str
    state: str
    last_stable: str
    previous_state: str
    result_name: str
    run_result: str
    test_result: str
    check_result: str
    verification: str
    schedule: Schedule | None = None
    last_run_time: datetime | None = None
    last_test_time: datetime | None = None
    last_check_time: datetime | None = None
    run: Run | None = None
    run_rule: ps.Rule | None = None
    halting_until: datetime | None = None
    halting_to: str | None = None
    change_log: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def from_spec(cls, spec: PlanSpec, now: datetime) -> LivePlan:
        schedule = None
        if spec.schedule is not None:
            start = datetime.fromisoformat(spec.schedule.startTime) if spec.schedule.startTime else None
            schedule = Schedule(spec.schedule.type, start, spec.schedule.previousPlanId)
        return cls(
            spec=spec,
            layout=Layout(spec),
            mode=spec.mode,
            state=spec.state,
            last_stable=spec.state,
            previous_state=spec.state,
            result_name=spec.resultName,
            run_result=spec.currentRunResult,
            test_result=spec.currentTestResult,
            check_result=spec.currentCheckResult,
            verification=spec.planVerificationState,
            schedule=schedule,
            last_check_time=datetime.fromisoformat(spec.lastCheckTime) if spec.lastCheckTime else None,
        )


@dataclass(frozen=True)
class ActionParams:
    """The body / query fields of a plan action, already validated (snake_case)."""

    full_stop: bool = False
    execute_chained_plans: bool = False
    restore_point_date: datetime | None = None
    protect_storage_volumes: bool = False
    restore_location_id: str | None = None
    failback_restore_vm_tags: bool = False
    execute_readiness_check: bool = False
    generate_dr_report: bool = False
    generate_report: bool = False
    continue_option: str | None = None
    start_time: datetime | None = None
    previous_plan_id: str | None = None
    clone_name: str | None = None
    virus_scan: bool = False
    yara_scan: bool = False
    yara_rule_id: str | None = None
    schedule_options: dict[str, object] = field(default_factory=dict)


@dataclass
class SimSettings:
    speed: float = 1.0
    illegal_action_status: int = 400
    halt_seconds: float = 2.0
    reset_leaves_disabled: bool = True
    # The server's wall-clock zone: plan times are written without an offset in it, and
    # offset-less times sent to it are read in it. ``None``: plan times carry "Z" (UTC).
    zone: tzinfo | None = None
