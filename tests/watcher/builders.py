"""Small builders of RuntimeDetails models for watcher tests (VRO's wire names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.vro import plan_states
from bot.vro.models import (
    ExecutionDetail,
    ExecutionResult,
    GroupRuntimeDetails,
    PlanRuntimeDetails,
    StepRuntimeDetails,
    VmRuntimeDetails,
)


def result(
    outcome: str | None = None,
    *details: tuple[str, str],
    start: datetime | None = None,
    finish: datetime | None = None,
) -> ExecutionResult:
    """An executionResult; ``details`` are (severity, friendlyInfo) pairs."""
    return ExecutionResult(
        result=outcome,
        details=[ExecutionDetail(friendlyInfo=text, severity=sev, level="Normal") for sev, text in details],
        startTime=start,
        finishTime=finish,
    )


def plan(
    state: str,
    *,
    progress: int = 0,
    running: bool | None = None,
    name: str = "SAP Tier1",
    plan_id: str = "p1",
    result_name: str = "",
    run_result: str = "Undefined",
    plan_type: str = "Replica",
    undo: bool | None = None,
    execution: ExecutionResult | None = None,
    **extra: Any,
) -> PlanRuntimeDetails:
    is_running = plan_states.is_running(state) if running is None else running
    extra.setdefault(
        "executionState", "Running" if is_running else ("Completed" if progress else "NotStarted")
    )
    return PlanRuntimeDetails(
        id=plan_id,
        name=name,
        state=state,
        stateName=plan_states.display_name(state),
        resultName=result_name,
        totalProgress=progress,
        progress=progress,
        isRunningState=is_running,
        isStableState=not is_running,
        currentRunResult=run_result,
        planType=plan_type,
        isUndoPossible=undo,
        executionResult=execution,
        **extra,
    )


def group(
    gid: str,
    name: str,
    state: str = "NotStarted",
    *,
    progress: int = 0,
    virtual: bool = False,
    res: ExecutionResult | None = None,
) -> GroupRuntimeDetails:
    return GroupRuntimeDetails(
        id=gid,
        name=name,
        executionState=state,
        progress=progress,
        groupType="VirtualGroup" if virtual else "VmGroup",
        executionResult=res,
    )


def vm(
    vid: str, name: str, state: str = "NotStarted", *, progress: int = 0, res: ExecutionResult | None = None
) -> VmRuntimeDetails:
    return VmRuntimeDetails(id=vid, name=name, executionState=state, progress=progress, executionResult=res)


def step(
    sid: str, name: str, state: str = "NotStarted", *, progress: int = 0, res: ExecutionResult | None = None
) -> StepRuntimeDetails:
    return StepRuntimeDetails(id=sid, name=name, executionState=state, progress=progress, executionResult=res)
