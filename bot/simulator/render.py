"""JSON bodies, field for field as VRO sends them.

RuntimeDetails carry exactly the keys of the seed's samples (``vro-rest-api-seed.txt``), in the
same order; plans, groups, VMs, steps, locations and scopes carry the fields of
``bot.vro.models`` (from vro-api-notes.md). All roll-ups come from the engine's step views, so a
plan, its groups, VMs and steps always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.simulator.core import SimCore
from bot.simulator.engine import (
    COMPLETED,
    HALTED,
    NOT_STARTED,
    RUNNING,
    SKIPPED,
    Detail,
    StepView,
    counts,
    result_name,
    rollup_state,
    weighted_progress,
    worst,
)
from bot.simulator.estate import GroupSpec, LocationSpec, ScopeSpec, StepSpec, VmSpec
from bot.simulator.plans import LivePlan
from bot.vro import plan_states as ps
from bot.vro.models import RunResult

Json = dict[str, Any]


def iso(when: datetime | None) -> str | None:
    """``2020-01-10T11:56:01Z`` (milliseconds only when there are some)."""
    if when is None:
        return None
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond // 1000:03d}"
    return text + "Z"


def wall_clock(when: datetime | None, zone: tzinfo | None) -> str | None:
    """A plan-level time as VRO documents them: offset-less on the server's clock [DOC]; ``Z``
    when the simulator has no zone configured."""
    if when is None or zone is None:
        return iso(when)
    return when.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def _detail(detail: Detail) -> Json:
    return {
        "friendlyInfo": detail.friendlyInfo,
        "level": detail.level,
        "severity": detail.severity,
        "timestamp": iso(detail.timestamp),
    }


def _execution_result(
    result: str, details: Sequence[Detail], start: datetime | None, finish: datetime | None
) -> Json:
    ordered = sorted(details, key=lambda d: d.timestamp)
    return {
        "result": result,
        "details": [_detail(d) for d in ordered],
        "startTime": iso(start),
        "finishTime": iso(finish),
    }


# --- definitions ----------------------------------------------------------------------------


def live_result_name(plan: LivePlan, at: datetime) -> str:
    """``resultName``: counted live while a run is under way, else the last outcome."""
    run = plan.run
    if run is None or run.segment is None:
        return plan.result_name
    views = run.views(at)
    errors = sum(1 for v in views if v.result == RunResult.ERROR)
    warnings = sum(1 for v in views if v.result == RunResult.WARNING)
    return result_name("Running", errors, warnings)


def plan_json(core: SimCore, plan: LivePlan) -> Json:
    spec = plan.spec
    location = core.locations.get(spec.recoveryLocationId.lower())
    scope = core.scopes.get(spec.scopeId.lower())
    schedule: Json | None = None
    if plan.schedule is not None:
        previous = core.plans.get((plan.schedule.previous_plan_id or "").lower())
        options = plan.schedule.options
        schedule = {
            "type": plan.schedule.type,
            "startTime": wall_clock(plan.schedule.start_time, core.settings.zone),
            "previousPlanId": previous.id if previous else None,
            "previousPlanName": previous.name if previous else None,
            "virusScan": bool(options.get("virusscan", False)),
            "yaraScan": bool(options.get("yarascan", False)),
            "yaraRuleId": options.get("yararuleid"),
        }
    return {
        "id": spec.id,
        "planType": spec.planType,
        "recoveryLocationId": spec.recoveryLocationId,
        "serverId": core.estate.server.id,
        "siteScopeId": spec.scopeId,
        "siteScopeName": scope.name if scope else "",
        "name": spec.name,
        "state": plan.state,
        "stateName": ps.display_name(plan.state),
        "resultName": live_result_name(plan, core.now()),
        "lastStableState": plan.last_stable,
        "lastStableStateName": ps.stable_display_name(plan.last_stable),
        "previousExecutionState": plan.previous_state,
        "reportTemplateId": spec.reportTemplateId,
        "description": spec.description,
        "recoveryLocationName": location.name if location else "",
        "recoveryLocationType": location.type if location else "",
        "containsAgentGroups": spec.containsAgentGroups,
        "storageRecoveryLocations": [],
        "groupsType": "Mixed" if any(g.groupType == "VirtualGroup" for g in spec.groups) else "VmGroups",
        "planMode": plan.mode,
        "planVerificationState": plan.verification,
        "currentRunResult": plan.run_result,
        "currentTestResult": plan.test_result,
        "currentCheckResult": plan.check_result,
        "lastRunTime": wall_clock(plan.last_run_time, core.settings.zone),
        "lastTestTime": wall_clock(plan.last_test_time, core.settings.zone),
        "lastCheckTime": wall_clock(plan.last_check_time, core.settings.zone),
        "schedule": schedule,
        "contactName": spec.contactName,
        "contactEmail": spec.contactEmail,
        "targetRPO": spec.targetRPO,
        "targetRTO": spec.targetRTO,
    }


def group_json(group: GroupSpec, order: int) -> Json:
    return {
        "id": group.id,
        "name": group.name,
        "groupType": group.groupType,
        "groupCategory": group.groupCategory,
        "virtualGroupType": group.virtualGroupType,
        "isParallel": group.isParallel,
        "parallelProcessingVmsCount": group.parallelProcessingVmsCount,
        "vmsCriticality": group.vmsCriticality,
        "order": order,
        "description": group.description,
        "vcenter": group.vcenter,
        "datacenter": group.datacenter,
    }


def vm_json(vm: VmSpec, number: int) -> Json:
    return {
        "id": vm.id,
        "name": vm.name,
        "voId": vm.voId,
        "isCritical": vm.isCritical,
        "number": number,
        "sourceMissing": vm.sourceMissing,
    }


def step_json(step: StepSpec, order: int) -> Json:
    return {
        "id": step.id,
        "name": step.name,
        "actionType": step.actionType,
        "stepDefinitionUid": step.stepDefinitionUid,
        "hidden": step.hidden,
        "isCritical": step.isCritical,
        "prohibitedOperations": list(step.prohibitedOperations),
        "order": order,
    }


def parameter_json(step: StepSpec) -> list[Json]:
    return [
        {
            "name": p.name,
            "value": p.value,
            "type": p.type,
            "isRequired": p.isRequired,
            "description": p.description,
        }
        for p in step.parameters
    ]


def location_json(location: LocationSpec) -> Json:
    return {
        "id": location.id,
        "type": location.type,
        "name": location.name,
        "description": location.description,
        "isOriginal": location.isOriginal,
        "useReIp": location.useReIp,
        "useNetworkMapping": location.useNetworkMapping,
        "computeGroups": None,
        "reIpRules": None,
        "networkMappingRules": None,
        "availability": location.availability,
    }


def scope_json(core: SimCore, scope: ScopeSpec) -> Json:
    return {
        "id": scope.id,
        "name": scope.name,
        "description": scope.description,
        "isDefault": scope.isDefault,
        "state": scope.state,
        "serverId": core.estate.server.id,
        "siteName": core.estate.server.siteName,
    }


def license_json(core: SimCore, scope_id: str | None) -> Json:
    names = {
        vm.name.lower()
        for plan in core.plans.values()
        if scope_id is None or plan.spec.scopeId.lower() == scope_id.lower()
        for group in plan.spec.groups
        for vm in group.vms
    }
    managed = core.estate.license.managedInstances
    if managed is None or scope_id is not None:
        managed = len(names)
    return {"newInstances": core.estate.license.newInstances, "managedInstances": managed}


# --- runtime details ------------------------------------------------------------------------


class RuntimeSnapshot:
    """Every step view of one plan at one moment, with the roll-ups built on them."""

    def __init__(self, plan: LivePlan, at: datetime) -> None:
        self.plan = plan
        self.at = at
        self.run = plan.run
        self.layout = plan.layout
        if self.run is None:
            self.views: list[StepView] = [StepView() for _ in self.layout.steps]
        else:
            self.views = self.run.views(at)
        self.halted = self.run is not None and (self.run.halted or plan.halting_until is not None)
        self.finished = self.run is not None and self.run.finished is not None and not self.halted

    def _weights(self, indices: Sequence[int]) -> list[float]:
        if self.run is None:
            return [1.0] * len(indices)
        return self.run.weights(indices)

    def _progress(self, indices: Sequence[int]) -> int:
        return weighted_progress([self.views[i] for i in indices], self._weights(indices))

    def _span(self, views: Sequence[StepView], state: str) -> tuple[datetime | None, datetime | None]:
        starts = [v.start for v in views if v.start is not None]
        start = min(starts) if starts else None
        finish = None
        if state in (COMPLETED, HALTED, SKIPPED):
            finishes = [v.finish for v in views if v.finish is not None]
            finish = max(finishes) if finishes else None
        return start, finish

    def _problems(self, indices: Sequence[int], prefix: str = "") -> list[Detail]:
        out: list[Detail] = []
        for index in indices:
            for detail in self.views[index].details:
                if detail.severity not in ("Success", "Info"):
                    text = f"{prefix}{detail.friendlyInfo}" if prefix else detail.friendlyInfo
                    out.append(Detail(text, detail.level, detail.severity, detail.timestamp))
        return out

    # --- steps ----------------------------------------------------------------------------

    def step(self, index: int) -> Json:
        ref = self.layout.steps[index]
        view = self.views[index]
        return {
            "actionType": ref.spec.actionType,
            "hidden": ref.spec.hidden,
            "stepDefinitionUid": ref.spec.stepDefinitionUid,
            "id": ref.spec.id,
            "name": ref.spec.name,
            "progress": int(view.progress * 100 + 1e-9) if view.state != COMPLETED else 100,
            "executionState": view.state,
            "executionResult": _execution_result(view.result, view.details, view.start, view.finish),
        }

    def step_details(self, index: int) -> list[Json]:
        return [_detail(d) for d in sorted(self.views[index].details, key=lambda d: d.timestamp)]

    # --- VMs ------------------------------------------------------------------------------

    def vm_state(self, group: int, vm: int) -> tuple[str, str]:
        indices = self.layout.vm_steps[(group, vm)]
        views = [self.views[i] for i in indices]
        state = rollup_state([v.state for v in views], halted=self.halted, finished=self.finished)
        result = RunResult.UNDEFINED
        if state in (COMPLETED, HALTED):
            result = worst(v.result for v in views)
            if result == RunResult.UNDEFINED and state == COMPLETED:
                result = RunResult.SUCCESS
        return state, result

    def vm(self, group: int, vm: int) -> Json:
        spec = self.plan.spec.groups[group].vms[vm]
        indices = self.layout.vm_steps[(group, vm)]
        views = [self.views[i] for i in indices]
        state, result = self.vm_state(group, vm)
        success, warning, error = counts(v.result for v in views)
        start, finish = self._span(views, state)
        details = self._problems(indices)
        if finish is not None:
            details.append(self._closing(f"VM {spec.name}", state, result, error, warning, finish))
        return {
            "voId": spec.voId,
            "isCritical": spec.isCritical,
            "successCount": success,
            "warningCount": warning,
            "errorCount": error,
            "totalCount": len(indices),
            "number": vm + 1,
            "isWebConsoleAvailable": spec.isWebConsoleAvailable,
            "sourceMissing": spec.sourceMissing,
            "id": spec.id,
            "name": spec.name,
            "progress": self._progress(indices) if state != COMPLETED else 100,
            "executionState": state,
            "executionResult": _execution_result(result, details, start, finish),
        }

    def _closing(
        self, what: str, state: str, result: str, errors: int, warnings: int, when: datetime
    ) -> Detail:
        """The line that closes a VM or group: how it ended, with its counts."""
        phase = {COMPLETED: "Complete", HALTED: "Halted", SKIPPED: "Skipped"}.get(state, state)
        severity = {RunResult.WARNING: "Warning", RunResult.ERROR: "Error"}.get(result, "Success")
        return Detail(f"{what}: {result_name(phase, errors, warnings)}", "Normal", severity, when)

    # --- groups ---------------------------------------------------------------------------

    def group(self, group: int) -> Json:
        spec = self.plan.spec.groups[group]
        indices = self.layout.group_steps[group]
        views = [self.views[i] for i in indices]
        if spec.vms:
            vm_states = [self.vm_state(group, v) for v in range(len(spec.vms))]
            state = rollup_state([s for s, _ in vm_states], halted=self.halted, finished=self.finished)
            success, warning, error = counts(r for _, r in vm_states)
            total = len(spec.vms)
        else:
            state = rollup_state([v.state for v in views], halted=self.halted, finished=self.finished)
            success, warning, error = counts(v.result for v in views)
            total = len(indices)
        result = RunResult.UNDEFINED
        if state in (COMPLETED, HALTED):
            result = worst(v.result for v in views)
            if result == RunResult.UNDEFINED and state == COMPLETED:
                result = RunResult.SUCCESS
        problems: list[Detail] = []
        if spec.vms:
            for v, vm in enumerate(spec.vms):
                problems += self._problems(self.layout.vm_steps[(group, v)], prefix=f"{vm.name}: ")
        else:
            problems = self._problems(indices)
        start, finish = self._span(views, state)
        if finish is not None:
            step_errors = sum(1 for v in views if v.result == RunResult.ERROR)
            step_warnings = sum(1 for v in views if v.result == RunResult.WARNING)
            problems.append(
                self._closing(f"Group {spec.name}", state, result, step_errors, step_warnings, finish)
            )
        return {
            "groupType": spec.groupType,
            "successCount": success,
            "warningCount": warning,
            "errorCount": error,
            "totalCount": total,
            "isProtected": spec.isProtected,
            "isParallel": spec.isParallel,
            "parallelProcessingVmsCount": spec.parallelProcessingVmsCount,
            "vmsCriticality": spec.vmsCriticality,
            "vcenter": spec.vcenter,
            "datacenter": spec.datacenter,
            "virtualGroupType": spec.virtualGroupType,
            "groupCategory": spec.groupCategory,
            "executionType": self._execution_type(),
            "id": spec.id,
            "name": spec.name,
            "progress": self._progress(indices) if state != COMPLETED else 100,
            "executionState": state,
            "executionResult": _execution_result(result, problems, start, finish),
        }

    def _execution_type(self) -> str:
        if self.run is not None and self.run.is_check:
            return "ReadinessCheck"
        return self.plan.spec.planType

    # --- plan -----------------------------------------------------------------------------

    def plan_state(self) -> str:
        run = self.run
        if run is None:
            return NOT_STARTED
        if run.segment is not None or self.plan.halting_until is not None:
            return RUNNING
        if run.halted:
            return HALTED
        return COMPLETED

    def total_progress(self) -> int:
        run = self.run
        if run is None:
            return 0
        if self.plan_state() == COMPLETED:
            return 100
        percent = self._progress(list(range(len(self.views))))
        return max(percent, int(run.progress_floor))

    def plan_runtime(self, core: SimCore, roles: Sequence[str]) -> Json:
        plan, spec = self.plan, self.plan.spec
        location = core.locations.get(spec.recoveryLocationId.lower())
        scope = core.scopes.get(spec.scopeId.lower())
        state = self.plan_state()
        run = self.run
        result = RunResult.UNDEFINED
        details: list[Detail] = []
        start = finish = None
        if run is not None:
            details = list(run.details)
            start = run.started
            if state in (COMPLETED, HALTED):
                finish = run.finished
                result = worst(v.result for v in self.views)
                if result == RunResult.UNDEFINED:
                    result = RunResult.SUCCESS if state == COMPLETED else RunResult.UNDEFINED
                if run.failed_step is not None:
                    result = RunResult.ERROR
        progress = self.total_progress()
        return {
            "state": plan.state,
            "stateName": ps.display_name(plan.state),
            "stateOrder": ps.state_order(plan.state),
            "resultName": live_result_name(plan, self.at),
            "isEditingByCurrentUser": False,
            "currentEditingUser": "",
            "lastStableState": plan.last_stable,
            "lastStableStateName": ps.stable_display_name(plan.last_stable),
            "totalProgress": progress,
            "isRunningState": ps.is_running(plan.state),
            "isStableState": ps.is_stable(plan.state),
            "currentRunResult": plan.run_result,
            "currentTestResult": plan.test_result,
            "currentCheckResult": plan.check_result,
            "planType": spec.planType,
            "recoveryLocationId": spec.recoveryLocationId,
            "siteScopeId": spec.scopeId,
            "siteScopeName": scope.name if scope else "",
            "recoveryToNewLocation": not (location.isOriginal if location else True),
            "roles": list(roles),
            "isUndoPossible": ps.is_undo_possible(spec.planType, plan.state, plan.mode),
            "isReversePossible": ps.is_reverse_possible(spec.planType, plan.state, plan.mode),
            "vendor": spec.vendor,
            "id": spec.id,
            "name": spec.name,
            "progress": progress,
            "executionState": state,
            "executionResult": _execution_result(result, details, start, finish),
        }
