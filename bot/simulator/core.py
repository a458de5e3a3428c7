"""The simulated VRO server: :class:`SimCore` answers every plan action as plain Python (no HTTP).

:class:`SimCore` is the :class:`~bot.simulator.world.SimWorld` (plans, runs, the events that
move them forward) plus the plan actions: :meth:`SimCore.perform` checks an action against the
plan-state rules (:mod:`bot.vro.plan_states`) and the plan's references, then changes the world.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime

from bot.simulator.engine import Detail, result_name
from bot.simulator.estate import PlanSpec
from bot.simulator.plans import ActionParams, LivePlan, Schedule, SimError
from bot.simulator.world import SimWorld
from bot.vro import plan_states as ps
from bot.vro.models import ContinueOption, PlanMode, PlanType, RunResult, Severity

CLONE_NAMESPACE = uuid.UUID("2f0b8a55-5d0e-4c47-9b1e-2ad1c6a1f3b7")


class SimCore(SimWorld):
    """The simulated server: the world, and every plan action of the API as a method."""

    # --- actions --------------------------------------------------------------------------

    def perform(self, plan_id: str, action: str, params: ActionParams, user: str) -> str | None:
        """Run one plan action; returns the new plan id for Clone. Raises :class:`SimError`."""
        self.advance()
        plan = self.plan(plan_id)
        self._validate_references(plan, action, params)
        rule = ps.find_rule(plan.spec.planType, plan.state, plan.mode, action)
        if rule is None:
            reason = ps.refusal_reason(plan.spec.planType, plan.state, plan.mode, action, plan_name=plan.name)
            raise SimError(self.settings.illegal_action_status, reason or f"{action} is not possible now.")
        now = self.now()
        title = ps.ACTION_TITLES.get(action, action)
        result: str | None = None
        if action in (ps.ENABLE, ps.DISABLE):
            plan.mode = rule.mode_after or plan.mode
            plan.change_log.append(f"{now.isoformat()} {action.lower()}d by {user}")
        elif action == ps.HALT:
            self._halt(plan, params, now, user)
        elif action == ps.CONTINUE:
            self._continue(plan, params, now, user)
        elif action == ps.RESET_STATE:
            self._reset(plan, params, now, user)
        elif action == ps.RESET_CHANGE_LOG:
            plan.change_log.clear()
            if params.generate_dr_report:
                plan.reports.append(f"{now.isoformat()} Plan Definition Report")
        elif action == ps.SCHEDULE_AT:
            self._schedule_at(plan, params, now)
        elif action == ps.SCHEDULE_AFTER:
            plan.schedule = Schedule(
                "AfterPlan", None, params.previous_plan_id, dict(params.schedule_options)
            )
        elif action == ps.DELETE_SCHEDULE:
            plan.schedule = None
        elif action == ps.CLONE:
            result = self._clone(plan, params.clone_name, now)
        else:
            notes = self._run_notes(plan, action, params)
            self._start_run(
                plan,
                action,
                rule,
                now,
                user,
                chained=params.execute_chained_plans,
                note="; ".join(notes) if notes else None,
            )
            if action == ps.READINESS_CHECK and params.generate_report:
                plan.reports.append(f"{now.isoformat()} Readiness Check Report")
        if action not in (ps.ENABLE, ps.DISABLE, ps.RESET_CHANGE_LOG):
            plan.change_log.append(f"{now.isoformat()} {title} by {user}")
        self.advance()
        return result

    def _run_notes(self, plan: LivePlan, action: str, params: ActionParams) -> list[str]:
        notes: list[str] = []
        if params.restore_point_date is not None:
            notes.append(f"Restore point: latest before {params.restore_point_date.isoformat()}")
        if params.restore_location_id is not None:
            notes.append(f"Recovery location: {self.location(params.restore_location_id).name}")
        if params.protect_storage_volumes:
            notes.append("Target storage volumes will be protected")
        if params.failback_restore_vm_tags:
            notes.append("VM tags will be restored on failback")
        if params.virus_scan:
            notes.append("Restored disks will be scanned for viruses")
        if params.yara_scan:
            notes.append("Restored disks will be scanned with a YARA rule")
        if params.execute_chained_plans and action in (ps.FAILOVER, ps.RESTORE):
            notes.append("Chained plans will run afterwards")
        return notes

    def _validate_references(self, plan: LivePlan, action: str, params: ActionParams) -> None:
        if (
            params.restore_location_id is not None
            and params.restore_location_id.lower() not in self.locations
        ):
            raise SimError(400, f"Recovery location '{params.restore_location_id}' does not exist.")
        if params.yara_rule_id is not None:
            scope = self.scopes.get(plan.spec.scopeId.lower())
            rules = {r.id.lower() for r in scope.yaraRules} if scope else set()
            if params.yara_rule_id.lower() not in rules:
                raise SimError(
                    400, f"YARA rule '{params.yara_rule_id}' is not available in the plan's scope."
                )
        if params.yara_scan and params.yara_rule_id is None:
            raise SimError(400, "yaraScan needs a yaraRuleId.")
        if params.restore_point_date is not None and params.restore_point_date > self.now():
            raise SimError(400, "restorePointDate is in the future; no restore point exists yet.")
        if action == ps.SCHEDULE_AFTER:
            previous = params.previous_plan_id or ""
            if previous.lower() not in self.plans:
                raise SimError(400, f"Plan '{previous}' to run after does not exist.")
            if previous.lower() == plan.id.lower() or self._chain_reaches(previous, plan.id):
                raise SimError(400, "That schedule would make the plan run after itself.")
        if action == ps.SCHEDULE_AT:
            if params.start_time is None:
                raise SimError(400, "startTime is required.")
            if params.start_time <= self.now():
                raise SimError(400, "startTime must be in the future.")
        if action == ps.CONTINUE and params.continue_option not in ContinueOption.ALL:
            raise SimError(
                400,
                "executionContinueOptions must be one of " + ", ".join(ContinueOption.ALL) + ".",
            )

    def _chain_reaches(self, start_id: str, target_id: str) -> bool:
        """True if ``start_id`` already runs (transitively) after ``target_id``."""
        seen: set[str] = set()
        current = self.plans.get(start_id.lower())
        while current is not None and current.id.lower() not in seen:
            seen.add(current.id.lower())
            schedule = current.schedule
            if schedule is None or schedule.type != "AfterPlan" or schedule.previous_plan_id is None:
                return False
            if schedule.previous_plan_id.lower() == target_id.lower():
                return True
            current = self.plans.get(schedule.previous_plan_id.lower())
        return False

    def _halt(self, plan: LivePlan, params: ActionParams, now: datetime, user: str) -> None:
        run = plan.run
        checking = plan.state == ps.CHECK_IN_PROGRESS
        if run is not None:
            run.halt_now(now)
            if params.full_stop:
                run.chained = False
            stop = " (full stop: chained plans will not run)" if params.full_stop else ""
            run.details.append(Detail(f"Halt requested by {user}{stop}", "Normal", Severity.WARNING, now))
        plan.previous_state = plan.state
        plan.state = ps.CHECK_HALTING if checking else ps.HALTING
        plan.halting_to = ps.READY if checking else ps.HALTED
        plan.halting_until = now + self._seconds(self.settings.halt_seconds)

    def _continue(self, plan: LivePlan, params: ActionParams, now: datetime, user: str) -> None:
        option = params.continue_option or ContinueOption.PROCEED_TO_NEXT_STEP
        run, rule = plan.run, plan.run_rule
        if rule is None or rule.enters in (None, ps.RESUME_HALTED):
            forward = ps.RESTORE if plan.spec.planType in (PlanType.RESTORE, PlanType.CLOUD) else ps.FAILOVER
            rule = ps.find_rule(plan.spec.planType, ps.READY, PlanMode.ENABLED, forward)
            assert rule is not None
        if run is None:
            # The runtime details were lost (server restart): start the operation over.
            self._start_run(plan, rule.action, rule, now, user, note=f"Continue ({option}) after a restart")
            return
        floor = float(self._plan_progress(plan, now))
        pending = run.continue_plan(option, now)
        run.progress_floor = max(run.progress_floor, floor)
        run.details.append(Detail(f"Continue ({option}) by {user}", "Normal", Severity.INFO, now))
        plan.previous_state = plan.state
        plan.state = rule.enters or plan.state
        plan.result_name = result_name("Running", 0, 0)
        run.schedule(pending, now)

    def _reset(self, plan: LivePlan, params: ActionParams, now: datetime, user: str) -> None:
        plan.previous_state = plan.state
        plan.run = None
        plan.run_rule = None
        plan.halting_until = None
        plan.state = ps.READY
        plan.last_stable = ps.READY
        if self.settings.reset_leaves_disabled:
            plan.mode = PlanMode.DISABLED
        elif plan.mode == PlanMode.IN_USE:
            plan.mode = PlanMode.ENABLED
        plan.result_name = ""
        plan.run_result = RunResult.UNDEFINED
        plan.verification = "NeedsVerified"
        if params.execute_readiness_check:
            rule = ps.find_rule(plan.spec.planType, plan.state, plan.mode, ps.READINESS_CHECK)
            if rule is not None:
                self._start_run(plan, ps.READINESS_CHECK, rule, now, user, note="Readiness check after reset")

    def _schedule_at(self, plan: LivePlan, params: ActionParams, now: datetime) -> None:
        plan.schedule = Schedule("OnTime", params.start_time, None, dict(params.schedule_options))

    def _clone(self, plan: LivePlan, name: str | None, now: datetime) -> str:
        taken = {p.name.lower() for p in self.plans.values()}
        if name is not None:
            if not name.strip():
                raise SimError(400, "The name of the clone must not be empty.")
            if name.lower() in taken:
                raise SimError(400, f"A plan named '{name}' already exists.")
        else:
            name = f"Copy of {plan.name}"
            number = 2
            while name.lower() in taken:
                name = f"Copy of {plan.name} ({number})"
                number += 1
        new_id = str(uuid.uuid5(CLONE_NAMESPACE, f"{plan.id}/{name}/{now.isoformat()}"))
        data = copy.deepcopy(plan.spec.model_dump())
        remap = _Remapper(new_id)
        data["id"] = new_id
        data["name"] = name
        data["mode"] = PlanMode.DISABLED
        data["state"] = ps.READY
        data["schedule"] = None
        data["resultName"] = ""
        data["currentRunResult"] = RunResult.UNDEFINED
        data["currentCheckResult"] = RunResult.UNDEFINED
        data["lastCheckTime"] = None
        data["currentTestResult"] = RunResult.UNDEFINED
        for group in data["groups"]:
            group["id"] = remap(group["id"])
            for step in group["steps"]:
                step["id"] = remap(step["id"])
            for vm in group["vms"]:
                vm["id"] = remap(vm["id"])
                for step in vm["steps"]:
                    step["id"] = remap(step["id"])
        spec = PlanSpec.model_validate(data)
        self.plans[new_id] = LivePlan.from_spec(spec, now)
        return new_id


class _Remapper:
    def __init__(self, new_plan_id: str) -> None:
        self.namespace = uuid.UUID(new_plan_id)

    def __call__(self, old: str) -> str:
        return str(uuid.uuid5(self.namespace, old))
