"""The simulated VRO server's world: plans and their runs, moved forward lazily by the clock.

:class:`SimWorld` holds the live plans, scopes and locations. Before each request the caller
invokes :meth:`SimWorld.advance`, which replays, in time order, every event that has become due
since the last request: a run's segment ending (completed or halted by a failing critical step),
a Halting period ending, an on-time schedule firing, a chained plan starting. So a test can
advance a FakeClock by an hour and read a consistent world. The plan actions that change it
are :class:`~bot.simulator.core.SimCore`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.simulator.engine import Detail, Run, counts, result_name, weighted_progress, worst
from bot.simulator.estate import Estate, LocationSpec, ScopeSpec
from bot.simulator.plans import LivePlan, SimSettings, lookup
from bot.vro import plan_states as ps
from bot.vro.models import PlanType, RunResult, Severity

MAX_EVENTS_PER_ADVANCE = 100_000
SCHEDULER_USER = "scheduler"


class SimWorld:
    """Plans, scopes, locations and runs, and the events that move them forward."""

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
        return lookup(self.plans, "Plan", plan_id)

    def plan_by_name(self, name: str) -> LivePlan:
        for plan in self.plans.values():
            if plan.name.lower() == name.lower():
                return plan
        raise KeyError(f"no plan named {name!r}")

    def scope(self, scope_id: str) -> ScopeSpec:
        return lookup(self.scopes, "Scope", scope_id)

    def location(self, location_id: str) -> LocationSpec:
        return lookup(self.locations, "Recovery location", location_id)

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
        _, warnings, errors = counts(v.result for v in views)
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
            _, warnings, errors = counts(v.result for v in plan.run.views(when))
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
