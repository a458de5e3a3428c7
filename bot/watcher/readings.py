"""What VRO's runtime records say, read the way the watcher needs them (pure).

An execution result's outcome and times, the warnings and errors among an item's details, the
counts VRO keeps on groups and VMs, whether Undo is possible, and whether VRO's data show a run
since a baseline read before the watched action was sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from bot.vro import plan_states
from bot.vro.models import (
    ExecutionDetail,
    ExecutionResult,
    GroupRuntimeDetails,
    PlanMode,
    PlanRuntimeDetails,
    RuntimeItem,
    VmRuntimeDetails,
)
from bot.vro.results import normalize_result
from bot.watcher.snapshot import TERMINAL, Issue, Phase, PlanView, plan_is_running


def ran_since(baseline: PlanRuntimeDetails, plan: PlanRuntimeDetails) -> bool:
    """Whether VRO's data for ``plan`` show a run after ``baseline`` (both read from VRO).

    A state change, a new start or finish time, or a new run/check/test result. A readiness
    check ends in the state it started from: its new times and result still tell it ran.
    """
    if plan_is_running(plan):
        return True
    if (plan.state or "") != (baseline.state or ""):
        return True
    if times_of(plan.executionResult) != times_of(baseline.executionResult):
        return True
    if result_of(plan.executionResult) != result_of(baseline.executionResult):
        return True
    return (plan.currentRunResult, plan.currentCheckResult, plan.currentTestResult) != (
        baseline.currentRunResult,
        baseline.currentCheckResult,
        baseline.currentTestResult,
    )


def undo_possible(view: PlanView) -> bool:
    if view.undo_possible is not None:
        return view.undo_possible
    if not view.plan_type or not view.state:
        return False
    modes = (view.plan_mode,) if view.plan_mode else (PlanMode.ENABLED, PlanMode.IN_USE)
    return any(plan_states.is_undo_possible(view.plan_type, view.state, mode) for mode in modes)


def result_of(result: ExecutionResult | None) -> str | None:
    """The result VRO gave, spelled ``Success`` / ``Warning`` / ``Error`` when it means one."""
    return normalize_result(result.result) if result is not None and result.result else None


def times_of(result: ExecutionResult | None) -> tuple[datetime | None, datetime | None]:
    if result is None:
        return None, None
    return result.startTime, result.finishTime


def issues_in(details: Iterable[ExecutionDetail], result: str | None, phase: Phase) -> list[Issue]:
    """Warnings and errors among ``details``.

    Details carrying severity Warning or Error are issues. An item that finished with a warning
    or an error but whose details carry no such severity still gets its texts reported, under
    the item's own result, so no warning goes unexplained.
    """
    details = [d for d in details if d.friendlyInfo]
    out: list[Issue] = []
    for detail in details:
        severity = (detail.severity or "").lower()
        if severity in ("warning", "error"):
            out.append(
                Issue(
                    severity="Error" if severity == "error" else "Warning",
                    text=detail.friendlyInfo,
                    at=detail.timestamp,
                )
            )
    if (
        not out
        and phase in TERMINAL
        and (phase == "failed" or (result or "").lower() in ("warning", "error"))
    ):
        fallback: Literal["Warning", "Error"] = (
            "Error" if phase == "failed" or (result or "").lower() == "error" else "Warning"
        )
        for detail in details:
            if (detail.severity or "").lower() != "success":
                out.append(Issue(severity=fallback, text=detail.friendlyInfo, at=detail.timestamp))
    unique: list[Issue] = []
    for issue in out:
        if not has_issue(unique, issue):
            unique.append(issue)
    return unique


def has_issue(known: Iterable[Issue], issue: Issue) -> bool:
    """The same warning or error: same severity and text, and same time when VRO gave one."""
    return any(k.severity == issue.severity and k.text == issue.text and k.at == issue.at for k in known)


def counts_of(rt: RuntimeItem) -> tuple[int, int, int, int] | None:
    """The counts VRO keeps for a group or a VM (see :attr:`Item.counts`)."""
    if isinstance(rt, GroupRuntimeDetails | VmRuntimeDetails):
        return (rt.successCount, rt.warningCount, rt.errorCount, rt.totalCount)
    return None
