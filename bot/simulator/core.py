"""The simulated VRO server's state: plans and their runs, moved forward lazily by the clock.

:class:`SimCore` holds the live plans and answers every operation as plain Python (no HTTP).
Before each request the caller invokes :meth:`SimCore.advance`, which replays, in time order,
every event that has become due since the last request: a run's segment ending (completed or
halted by a failing critical step), a Halting period ending, an on-time schedule firing, a
chained plan starting. So a test can advance a FakeClock by an hour and read a consistent world.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from bot.clock import Clock
from bot.simulator.engine import Detail, Layout, Run, result_name, worst
from bot.simulator.estate import Estate, LocationSpec, PlanSpec, ScopeSpec
from bot.vro import plan_states as ps
from bot.vro.models import ContinueOption, PlanMode, PlanType, RunResult, Severity

MAX_EVENTS_PER_ADVANCE = 100_000
CLONE_NAMESPACE = uuid.UUID("2f0b8a55-5d0e-4c47-9b1e-2ad1c6a1f3b7")
SCHEDULER_USER = "scheduler"


class SimError(Exception):
    """An operation refused with an HTTP status and VRO's ``{"Message": ...}`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(kind: str, ident: str) -> SimError:
    return SimError(404, f"{kind} with id '{ident}' was not found.")


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


class SimCore:
    """Plans, scopes, locations and runs; every operation of the API as a method."""

    def __init__(self, *, estate: Estate, clock: Clock, settings: SimSettings) -> None:
        if settings.speed <= 0:
            raise ValueError("speed must be positive")
        self.estate = estate
        self.clock = clock
        self.settings = settings
        now = clock.now()
        self.plans: dict[str, LivePlan] = {
            plan.id.lower(): LivePlan.from_spec(plan, now) for plan in estate.plans
        }
        self.scopes: dict[str, ScopeSpec] = {s.id.lower(): s for s in estate.scopes}
        self.locations: dict[str, LocationSpec] = {loc.id.lower(): loc for loc in estate.recoveryLocations}

    # --- lookups --------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def plan(self, plan_id: str) -> LivePlan:
        plan = self.plans.get(plan_id.lower())
        if plan is None:
            raise not_found("Plan", plan_id)
        return plan

    def plan_by_name(self, name: str) -> LivePlan:
        for plan in self.plans.values():
            if plan.name.lower() == name.lower():
                return plan
        raise KeyError(f"no plan named {name!r}")

    def scope(self, scope_id: str) -> ScopeSpec:
        scope = self.scopes.get(scope_id.lower())
        if scope is None:
            raise not_found("Scope", scope_id)
        return scope

    def location(self, location_id: str) -> LocationSpec:
        location = self.locations.get(location_id.lower())
        if location is None:
            raise not_found("Recovery location", location_id)
        return location

    # --- time -----------------------------------------------------------------------------

    def _seconds(self, simulated: float) -> timedelta:
        return timedelta(seconds=simulated / self.settings.speed)

    def _next_event(self) -> tuple[datetime, LivePlan, Callable[[LivePlan, datetime], None]] | None:
        best: tuple[datetime, LivePlan, Callable[[LivePlan, datetime], None]] | None = None
        for plan in self.plans.values():
            candidates: list[tuple[datetime, Callable[[LivePlan, datetime], None]]] = []
            if plan.run is not None and plan.run.segment is not None:
                candidates.append((plan.run.segment.end, self._segment_ended))
            if plan.halting_until is not None:
                candidates.append((plan.halting_until, self._halting_ended))
            if plan.schedule is not None and plan.schedule.start_time is not None:
                candidates.append((plan.schedule.start_time, self._schedule_due))
            for when, handler in candidates:
                if best is None or when < best[0]:
                    best = (when, plan, handler)
        return best

    def advance(self) -> None:
        """Replay every event that is due by now, in time order."""
        now = self.now()
        for _ in range(MAX_EVENTS_PER_ADVANCE):
            event = self._next_event()
            if event is None or event[0] > now:
                return
            when, plan, handler = event
            handler(plan, when)

    def _segment_ended(self, plan: LivePlan, when: datetime) -> None:
        run = plan.run
        assert run is not None
        run.commit()
        views = run.views(when)
        errors = sum(1 for v in views if v.result == RunResult.ERROR)
        warnings = sum(1 for v in views if v.result == RunResult.WARNING)
        title = ps.ACTION_TITLES.get(run.operation, run.operation)
        if run.failed_step is not None:
            ref = run.layout.steps[run.failed_step]
            where = self._owner_name(plan, run.failed_step)
            run.halted = True
            run.finished = when
            run.details.append(
                Detail(
                    f"Plan halted: critical step '{ref.spec.name}' failed on {where}",
                    "Critical",
                    Severity.ERROR,
                    when,
                )
            )
            self._settle(plan, ps.HALTED)
            plan.result_name = result_name("Halted", errors, warnings)
            self._record_result(plan, run, RunResult.ERROR, when)
            return
        run.finished = when
        outcome = worst(v.result for v in views)
        if outcome == RunResult.UNDEFINED:
            outcome = RunResult.SUCCESS
        rule = plan.run_rule
        ends = rule.ends if rule is not None and rule.ends not in (None, ps.RESUME_HALTED) else ps.READY
        summary = result_name("Complete", errors, warnings)
        run.details.append(Detail(f"{title} completed: {summary}", "Normal", _severity(outcome), when))
        self._settle(plan, ends)
        plan.result_name = summary
        self._record_result(plan, run, outcome, when)
        if run.operation in (ps.FAILOVER, ps.RESTORE) and run.chained:
            self._start_chained(plan, when)

    def _record_result(self, plan: LivePlan, run: Run, outcome: str, when: datetime) -> None:
        if run.is_check:
            plan.check_result = outcome
            plan.last_check_time = when
            plan.verification = "Verified" if outcome != RunResult.ERROR else "NotVerified"
        else:
            plan.run_result = outcome
            plan.last_run_time = when

    def _halting_ended(self, plan: LivePlan, when: datetime) -> None:
        target = plan.halting_to or ps.HALTED
        plan.halting_until = None
        plan.halting_to = None
        if plan.run is not None:
            plan.run.halted = True
            plan.run.finished = when
            plan.run.details.append(Detail("Plan halted", "Normal", Severity.WARNING, when))
            views = plan.run.views(when)
            errors = sum(1 for v in views if v.result == RunResult.ERROR)
            warnings = sum(1 for v in views if v.result == RunResult.WARNING)
            plan.result_name = result_name("Halted", errors, warnings)
            if plan.run.is_check:
                plan.check_result = RunResult.ERROR
                plan.last_check_time = when
        self._settle(plan, target)

    def _schedule_due(self, plan: LivePlan, when: datetime) -> None:
        plan.schedule = None
        self._start_scheduled(plan, when, reason="scheduled time reached")

    def _start_chained(self, previous: LivePlan, when: datetime) -> None:
        for plan in list(self.plans.values()):
            schedule = plan.schedule
            if (
                schedule is not None
                and schedule.type == "AfterPlan"
                and (schedule.previous_plan_id or "").lower() == previous.id.lower()
            ):
                self._start_scheduled(plan, when, reason=f"after plan '{previous.name}'")

    def _start_scheduled(self, plan: LivePlan, when: datetime, *, reason: str) -> None:
        action = ps.RESTORE if plan.spec.planType in (PlanType.RESTORE, PlanType.CLOUD) else ps.FAILOVER
        rule = ps.find_rule(plan.spec.planType, plan.state, plan.mode, action)
        if rule is None:
            refusal = ps.refusal_reason(
                plan.spec.planType, plan.state, plan.mode, action, plan_name=plan.name
            )
            plan.change_log.append(f"{when.isoformat()} scheduled run skipped ({reason}): {refusal}")
            return
        plan.change_log.append(f"{when.isoformat()} scheduled {action} started ({reason})")
        self._start_run(plan, action, rule, when, SCHEDULER_USER, chained=True)

    def _settle(self, plan: LivePlan, state: str) -> None:
        plan.state = state
        if ps.is_stable(state):
            plan.last_stable = state

    def _owner_name(self, plan: LivePlan, index: int) -> str:
        ref = plan.layout.steps[index]
        group = plan.spec.groups[ref.group]
        if ref.vm is None:
            return f"group '{group.name}'"
        return f"VM '{group.vms[ref.vm].name}'"

    # --- runs -----------------------------------------------------------------------------

    def _start_run(
        self,
        plan: LivePlan,
        action: str,
        rule: ps.Rule,
        at: datetime,
        user: str,
        *,
        chained: bool = False,
        note: str | None = None,
    ) -> None:
        is_check = action in (ps.READINESS_CHECK, ps.MALWARE_SCAN)
        plan.previous_state = plan.state
        if rule.mode_after is not None:
            plan.mode = rule.mode_after
        plan.state = rule.enters if rule.enters not in (None, ps.RESUME_HALTED) else plan.state
        run = Run(
            layout=plan.layout,
            operation=action,
            is_check=is_check,
            user=user,
            started=at,
            speed=self.settings.speed,
            chained=chained,
        )
        title = ps.ACTION_TITLES.get(action, action)
        run.details.append(Detail(f"{title} started by {user}", "Normal", Severity.INFO, at))
        if note:
            run.details.append(Detail(note, "Normal", Severity.INFO, at))
        run.schedule(set(range(len(plan.layout.steps))), at)
        plan.run = run
        plan.run_rule = rule
        plan.halting_until = None
        plan.result_name = result_name("Running", 0, 0)

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

    # --- restart --------------------------------------------------------------------------

    def reboot(self) -> None:
        """A VRO service restart: RuntimeDetails are lost; running plans stop where they are."""
        self.advance()
        now = self.now()
        for plan in self.plans.values():
            run = plan.run
            if run is not None and (run.segment is not None or plan.halting_until is not None):
                run.commit(now)
                if run.is_check or plan.state in (ps.CHECK_IN_PROGRESS, ps.CHECK_HALTING):
                    self._settle(plan, ps.READY)
                    plan.check_result = RunResult.ERROR  # an interrupted check failed, just now
                    plan.last_check_time = now
                else:
                    self._settle(plan, ps.HALTED)
                    plan.result_name = result_name("Halted", 0, 0)
            plan.run = None
            plan.halting_until = None
            plan.halting_to = None

    # --- progress -------------------------------------------------------------------------

    def _plan_progress(self, plan: LivePlan, at: datetime) -> int:
        from bot.simulator.engine import weighted_progress

        run = plan.run
        if run is None:
            return 0
        indices = list(range(len(run.records)))
        percent = weighted_progress(run.views(at), run.weights(indices))
        return max(percent, int(run.progress_floor))


def _severity(result: str) -> str:
    return {
        RunResult.SUCCESS: Severity.SUCCESS,
        RunResult.WARNING: Severity.WARNING,
        RunResult.ERROR: Severity.ERROR,
    }.get(result, Severity.INFO)


class _Remapper:
    def __init__(self, new_plan_id: str) -> None:
        self.namespace = uuid.UUID(new_plan_id)

    def __call__(self, old: str) -> str:
        return str(uuid.uuid5(self.namespace, old))
