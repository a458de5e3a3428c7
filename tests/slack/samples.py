"""Sample VRO data and approval views for the Block Kit tests, small and very large."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.approvals.status import RequestStatus
from bot.slack.blocks.approvals import ApprovalCardView
from bot.vro.models import (
    ExecutionDetail,
    ExecutionResult,
    GroupRuntimeDetails,
    LicenseUsage,
    Plan,
    PlanGroup,
    PlanRuntimeDetails,
    PlanStep,
    PlanVm,
    RecoveryLocation,
    ScheduleInfo,
    Scope,
    StepParameter,
    StepRuntimeDetails,
    VmRuntimeDetails,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LONG = "Ω" * 400  # long names, and not ASCII


def plan(
    name: str = "SAP Tier1",
    *,
    id: str = "6f9619ff-8b86-d011-b42d-00c04fc964ff",
    plan_type: str = "Replica",
    state: str = "Ready",
    mode: str = "Enabled",
    **extra: Any,
) -> Plan:
    return Plan(id=id, name=name, planType=plan_type, state=state, planMode=mode, **extra)


def full_plan() -> Plan:
    return plan(
        description="Tier-1 SAP landscape <prod> & friends",
        stateName="Ready",
        siteScopeName="Admin Scope",
        recoveryLocationName="DR site",
        currentRunResult="Warning",
        lastRunTime=NOW - timedelta(days=2),
        currentTestResult="Success",
        lastTestTime=NOW - timedelta(days=1),
        currentCheckResult="Error",
        lastCheckTime=NOW - timedelta(hours=3),
        resultName="Complete, no errors, 1 warning",
        schedule=ScheduleInfo(type="OnTime", startTime=NOW + timedelta(days=1)),
        contactName="Ops",
        contactEmail="ops@example.com",
        targetRPO=15,
        targetRTO=60,
    )


def many_plans(count: int, *, name: str = "Plan") -> list[Plan]:
    states = ["Ready", "FailoverInProgress", "Halted", "FailoverComplete", "RestoreComplete"]
    return [
        plan(
            f"{name} {i:04d} {LONG[: i % 60]}",
            id=f"00000000-0000-0000-0000-{i:012d}",
            state=states[i % len(states)],
            plan_type="Restore" if i % 5 == 4 else "Replica",
            currentRunResult=["Success", "Warning", "Error", None][i % 4],
        )
        for i in range(count)
    ]


def groups(count: int) -> list[PlanGroup]:
    return [
        PlanGroup(
            id=f"g{i}",
            name=f"Group {i} {LONG[: i % 50]}",
            groupType="VirtualGroup" if i % 3 == 0 else "VmGroup",
            isParallel=i % 2 == 0,
            parallelProcessingVmsCount=4,
            order=i,
            description=LONG if i % 7 == 0 else None,
        )
        for i in range(count)
    ]


def vms(count: int, prefix: str = "vm") -> list[PlanVm]:
    return [
        PlanVm(id=f"{prefix}{i}", name=f"{prefix}-{i:04d}", isCritical=i % 10 == 0, number=i)
        for i in range(count)
    ]


def steps(count: int) -> list[PlanStep]:
    return [
        PlanStep(id=f"s{i}", name=f"Step {i} {LONG[: i % 30]}", isCritical=i % 4 == 0, order=i)
        for i in range(count)
    ]


def parameters(count: int) -> list[StepParameter]:
    return [
        StepParameter(
            name=f"param{i}",
            value={"nested": list(range(i % 50))} if i % 2 else "`x` <y> & z" * (i % 100),
            type="String",
            isRequired=i % 3 == 0,
            description=LONG if i % 5 == 0 else None,
        )
        for i in range(count)
    ]


def locations(count: int) -> list[RecoveryLocation]:
    return [
        RecoveryLocation(
            id=f"loc{i}", name=f"Location {i}", type="Restore", description=LONG, availability="Available"
        )
        for i in range(count)
    ]


def scopes(count: int) -> list[Scope]:
    return [
        Scope(id=f"sc{i}", name=f"Scope {i}", isDefault=i == 0, siteName="Ontario", state="Active")
        for i in range(count)
    ]


def license_usage() -> LicenseUsage:
    return LicenseUsage(newInstances=0, managedInstances=1234)


def _result(result: str | None, *, details: int = 0) -> ExecutionResult:
    return ExecutionResult(
        result=result,
        startTime=NOW - timedelta(minutes=5),
        details=[
            ExecutionDetail(friendlyInfo=f"detail {j} {LONG}", severity="Error" if j == 0 else "Info")
            for j in range(details)
        ],
    )


def runtime_plan(*, running: bool = True) -> PlanRuntimeDetails:
    return PlanRuntimeDetails(
        id="6f9619ff-8b86-d011-b42d-00c04fc964ff",
        name="SAP Tier1",
        state="FailoverInProgress" if running else "FailoverComplete",
        stateName="Failover in progress" if running else "Failover",
        totalProgress=42,
        isRunningState=running,
        isStableState=not running,
        executionState="Running" if running else "Completed",
        executionResult=_result(None if running else "Warning"),
        currentRunResult="Warning",
        currentCheckResult="Success",
        lastStableStateName="Ready",
        resultName=None if running else "Complete, no errors, 1 warning",
    )


Tree = tuple[
    list[GroupRuntimeDetails], dict[str, list[VmRuntimeDetails]], dict[str, list[StepRuntimeDetails]]
]


def runtime_tree(group_count: int, vms_per_group: int, steps_per_vm: int) -> Tree:
    """A tree where group 0 has finished fine (when there are others) and the rest run.

    In each running group the middle VM runs and the last VM has failed.
    """
    group_list: list[GroupRuntimeDetails] = []
    vm_map: dict[str, list[VmRuntimeDetails]] = {}
    step_map: dict[str, list[StepRuntimeDetails]] = {}
    for g in range(group_count):
        done = group_count > 1 and g == 0
        group_list.append(
            GroupRuntimeDetails(
                id=f"g{g}",
                name=f"Group {g}",
                progress=100 if done else 40,
                executionState="Completed" if done else "Running",
                executionResult=_result("Success" if done else None),
                successCount=vms_per_group if done else vms_per_group // 2,
                errorCount=0 if done else 1,
                totalCount=vms_per_group,
            )
        )
        vm_list = []
        for v in range(vms_per_group):
            failed = not done and v == vms_per_group - 1
            running = not done and v == vms_per_group // 2
            vm_id = f"g{g}vm{v}"
            vm_list.append(
                VmRuntimeDetails(
                    id=vm_id,
                    name=f"failed-vm-{g}" if failed else f"vm-{g}-{v}",
                    progress=100 if (done or failed) else (50 if running else 0),
                    executionState="Completed"
                    if (done or failed)
                    else ("Running" if running else "NotStarted"),
                    executionResult=_result(
                        "Error" if failed else ("Success" if done else None), details=2 if failed else 0
                    ),
                )
            )
            step_map[vm_id] = [
                StepRuntimeDetails(
                    id=f"{vm_id}s{s}",
                    name=f"Step {s}",
                    executionState="Completed" if s < steps_per_vm - 1 or done else "Running",
                    executionResult=_result(
                        "Error" if failed and s == steps_per_vm - 1 else "Success", details=1 if failed else 0
                    ),
                )
                for s in range(steps_per_vm)
            ]
        vm_map[f"g{g}"] = vm_list
    return group_list, vm_map, step_map


def card(
    status: RequestStatus = RequestStatus.PENDING,
    *,
    verb: str = "failover",
    request_id: str = "req-0001",
    approvers: tuple[str, ...] = ("U0LEAD1",),
    **extra: Any,
) -> ApprovalCardView:
    values: dict[str, Any] = {
        "request_id": request_id,
        "requester": "U0OPS1",
        "verb": verb,
        "plan_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        "plan_name": "SAP Tier1",
        "plan_state": "Ready",
        "status": status,
        "approvals_required": 2,
        "expires_at": NOW + timedelta(minutes=30),
        "approvers": approvers,
        "params": {"restore_point_date": "2026-11-27T10:00:00+00:00", "execute_chained_plans": True},
        "reason": "INC-42 site A lost",
        "approver_role": "approver",
        "created_at": NOW,
    }
    values.update(extra)
    return ApprovalCardView(**values)
