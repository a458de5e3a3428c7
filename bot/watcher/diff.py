"""From one snapshot and one poll's observation to the next snapshot and the events between.

:func:`advance` is pure: it never mutates its inputs, never asks the time (the observation
carries it) and does no I/O. Events come out in narration order: the plan's state change, then
for each group in VRO's order the group starting, each VM (starting, its steps, finishing), the
group finishing, and last a halt or the end of the run.

A RuntimeDetails reset (VRO rebooted: everything back to empty or ``NotStarted``) is not a
regression to narrate: items keep what was last known, one ``runtime_reset`` event says so,
and the run carries on in the same thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from bot.vro import plan_states
from bot.vro.models import ExecutionDetail, PlanRuntimeDetails, RuntimeItem
from bot.vro.results import normalize_result
from bot.watcher.events import PROCEED_OPTIONS, RETRY_OPTIONS, Event, EventKind, Scope
from bot.watcher.readings import (
    counts_of,
    has_issue,
    issues_in,
    ran_since,
    result_of,
    times_of,
    undo_possible,
)
from bot.watcher.snapshot import (
    TERMINAL,
    Issue,
    Item,
    ItemKind,
    Observation,
    Phase,
    PlanView,
    Snapshot,
    group_key,
    is_virtual_group,
    phase_of,
    plan_is_halted,
    plan_is_running,
    runtime_sig,
    step_key,
    vm_key,
)

# The event model and the readings of VRO's records live in their own modules; their names
# stay importable from here.
__all__ = ["PROCEED_OPTIONS", "RETRY_OPTIONS", "Event", "EventKind", "Scope", "advance", "ran_since"]

_CLOSING_KIND: dict[Phase, EventKind] = {
    "completed": "completed",
    "failed": "failed",
    "skipped": "skipped",
    "halted": "halted",
}


def advance(
    old: Snapshot, obs: Observation, *, baseline: PlanRuntimeDetails | None = None
) -> tuple[Snapshot, list[Event]]:
    """Merge ``obs`` into ``old``; return the new snapshot and the events between the two.

    ``baseline`` is the plan as VRO described it just before the watched action was sent. A run
    that started and finished between two polls still counts as a run when VRO's own data
    differ from it (state, start or finish time, result): VRO's clock is never compared with
    the bot's, so a VRO whose clock is hours off is narrated the same.
    """
    return _Advance(old, obs, baseline).run()


class _Advance:
    def __init__(self, old: Snapshot, obs: Observation, baseline: PlanRuntimeDetails | None) -> None:
        self.old = old
        self.obs = obs
        self.baseline = baseline
        self.items: dict[str, Item] = dict(old.items)
        self.next_order = old.next_order
        self.opening: dict[str, list[Event]] = {}
        self.closing: dict[str, list[Event]] = {}
        self.changed: set[str] = set()
        self.regressed = False

    # -- the whole step ------------------------------------------------------------------------

    def run(self) -> tuple[Snapshot, list[Event]]:
        obs = self.obs
        if obs.groups is not None:
            for group in obs.groups:
                self._merge(group_key(group.id), "group", group, None, virtual=is_virtual_group(group))
        for gkey, vms in obs.vms.items():
            for vm in vms:
                self._merge(vm_key(vm.id), "vm", vm, gkey)
        for owner, steps in obs.steps.items():
            for step in steps:
                skey = step_key(owner, step.id)
                self._merge(skey, "step", step, owner, details=obs.step_details.get(skey))
        for skey, details in obs.step_details.items():
            if skey not in self.changed and skey in self.items:
                self._add_details(skey, details)
        self._issues_for_parents()

        plan = obs.plan
        old_plan = self.old.plan
        running = plan_is_running(plan)
        halted = plan_is_halted(plan)
        view = self._plan_view(plan, old_plan, running=running, halted=halted)

        # Items back to NotStarted while the plan runs on with progress are a retry (Continue
        # with RetryFailedVm / RetryFailedGroup re-runs their steps), not a wiped RuntimeDetails.
        retried = running and view.progress > 0
        reset = (self.regressed and not retried) or (
            old_plan is not None
            and old_plan.progress > 0
            and float(plan.totalProgress or plan.progress or 0) == 0
            and phase_of(plan.executionState, None) == "pending"
        )
        seen_running = self.old.seen_running or running
        run_started_at = self.old.run_started_at
        if running and run_started_at is None:
            run_started_at = view.started_at or obs.at
        seen_at = self.old.seen_at if self.old.seen_at is not None else (obs.at if running else None)

        head: list[Event] = []
        tail: list[Event] = []
        reset_noticed = self.old.reset_noticed
        if reset and not reset_noticed:
            head.append(Event(kind="runtime_reset", name=view.name, at=obs.at))
            reset_noticed = True
        elif reset_noticed and not reset and view.progress > 0:
            reset_noticed = False

        state_changed = old_plan is not None and (old_plan.state, old_plan.state_name) != (
            view.state,
            view.state_name,
        )
        if state_changed or (old_plan is None and running):
            event = Event(
                kind="plan_state",
                name=view.name,
                text=view.state_name or view.state,
                previous=(old_plan.state_name or old_plan.state) if old_plan else None,
                at=obs.at,
            )
            (head if running else tail).append(event)
        if old_plan is not None and old_plan.halted and not halted and running:
            head.append(Event(kind="plan_resumed", name=view.name, text=view.state_name, at=obs.at))

        if self.old.plan is not None:
            initial_state = self.old.initial_state
        elif self.baseline is not None:
            initial_state = self.baseline.state or ""
        else:
            initial_state = view.state
        finished = self.old.finished
        if halted and (old_plan is None or not old_plan.halted):
            tail.append(self._halt_event(view))
        elif not running and not halted and not finished and self._ran(view, initial_state, seen_running):
            finished = True
            tail.append(
                Event(
                    kind="finished",
                    name=view.name,
                    text=view.state_name or view.state,
                    result=view.result,
                    previous=view.result_name,
                    at=obs.at,
                )
            )
        elif running and finished:
            finished = False  # a new operation began on the same plan (e.g. Undo after the run)

        events = head + self._item_events() + self._plan_issue_events(view, old_plan) + tail
        snapshot = Snapshot(
            plan=view,
            items=self.items,
            initial_state=initial_state,
            seen_running=seen_running,
            run_started_at=run_started_at,
            seen_at=seen_at,
            reset_noticed=reset_noticed,
            finished=finished,
            next_order=self.next_order,
        )
        return snapshot, events

    def _ran(self, view: PlanView, initial_state: str | None, seen_running: bool) -> bool:
        if seen_running or (initial_state is not None and view.state != initial_state):
            return True
        return self.baseline is not None and ran_since(self.baseline, self.obs.plan)

    # -- items ---------------------------------------------------------------------------------

    def _merge(
        self,
        key: str,
        kind: ItemKind,
        rt: RuntimeItem,
        parent: str | None,
        *,
        virtual: bool = False,
        details: Sequence[ExecutionDetail] | None = None,
    ) -> None:
        old = self.items.get(key)
        result = result_of(rt.executionResult)
        phase = phase_of(rt.executionState, result)
        if result is None and phase in TERMINAL:
            # A state that says how it ended ("Warning", "CompletedWithErrors") stands for the result.
            said = normalize_result(rt.executionState)
            result = said if said in ("Warning", "Error") else None
        sig = runtime_sig(rt)
        if old is not None and phase == "pending" and old.phase != "pending":
            # Reset (or a glitch): keep what we knew; remember the read so it is not refetched.
            self.regressed = True
            self.items[key] = replace(old, sig=sig)
            return
        if old is None:
            order = self.next_order
            self.next_order += 1
        else:
            order = old.order
        started_at, finished_at = times_of(rt.executionResult)
        restarted = old is not None and old.phase in TERMINAL and phase == "running"
        detail_list = list(rt.executionResult.details if rt.executionResult else ())
        if details:
            detail_list.extend(details)
        issues = issues_in(detail_list, result, phase)
        # Issues stay known across a retry: a new failure has a new timestamp, a repeat does not.
        known = () if old is None else old.issues
        new_issues = tuple(i for i in issues if not has_issue(known, i))
        item = Item(
            key=key,
            id=rt.id,
            kind=kind,
            name=rt.name or (old.name if old else rt.id),
            parent=parent,
            order=order,
            virtual=virtual,
            phase=phase,
            result=result,
            progress=float(rt.progress or 0),
            sig=sig,
            started_at=started_at,
            finished_at=finished_at,
            issues=known + new_issues,
            details_fetched=details is not None
            or (old is not None and old.details_fetched and not restarted),
            counts=counts_of(rt),
        )
        self.items[key] = item
        self.changed.add(key)
        self._transition(old, item)
        if kind == "step":
            for issue in new_issues:
                self._close(key, self._issue_event(item, issue))

    def _add_details(self, key: str, details: Sequence[ExecutionDetail]) -> None:
        item = self.items[key]
        issues = issues_in(details, item.result, item.phase)
        new_issues = tuple(i for i in issues if not has_issue(item.issues, i))
        self.items[key] = replace(item, issues=item.issues + new_issues, details_fetched=True)
        for issue in new_issues:
            self._close(key, self._issue_event(self.items[key], issue))

    def _transition(self, old: Item | None, new: Item) -> None:
        before: Phase = old.phase if old is not None else "pending"
        after = new.phase
        if after == "running" and before != "running":
            self._open(new.key, self._item_event("started", new, retry=before in TERMINAL))
        elif after in TERMINAL:
            if before in ("pending", "running"):
                self._close(new.key, self._item_event(_CLOSING_KIND[after], new))
            elif old is not None and (
                after != before
                or (old.finished_at and new.finished_at and old.finished_at != new.finished_at)
            ):
                self._close(new.key, self._item_event(_CLOSING_KIND[after], new, retry=True))

    def _open(self, key: str, event: Event) -> None:
        self.opening.setdefault(key, []).append(event)

    def _close(self, key: str, event: Event) -> None:
        self.closing.setdefault(key, []).append(event)

    def _names(self, item: Item) -> tuple[str | None, str | None]:
        """(group name, VM name) around ``item``."""
        group = vm = None
        parent = self.items.get(item.parent) if item.parent else None
        if parent is not None and parent.kind == "vm":
            vm = parent.name
            grand = self.items.get(parent.parent) if parent.parent else None
            group = grand.name if grand else None
        elif parent is not None and parent.kind == "group":
            group = parent.name
        return group, vm

    def _item_event(self, kind: EventKind, item: Item, *, retry: bool = False) -> Event:
        at = item.finished_at if kind != "started" else item.started_at
        return self._event(kind, item, result=item.result, retry=retry, at=at)

    def _issue_event(self, item: Item, issue: Issue) -> Event:
        return self._event("issue", item, severity=issue.severity, text=issue.text, at=issue.at)

    def _event(self, kind: EventKind, item: Item, **fields: Any) -> Event:
        """An event about ``item``, named with its group and VM."""
        group, vm = self._names(item)
        return Event(kind=kind, scope=item.kind, key=item.key, name=item.name, group=group, vm=vm, **fields)

    def _issues_for_parents(self) -> None:
        """VM and group issues, unless their steps reported some (then these only repeat them)."""
        for key in list(self.changed):
            item = self.items[key]
            if item.kind == "step" or not item.issues:
                continue
            if any(True for _ in self._descendant_issues(key)):
                continue
            old = self.old.items.get(key)
            known = old.issues if old is not None else ()
            for issue in item.issues:
                if not has_issue(known, issue):
                    self._close(key, self._issue_event(item, issue))

    def _descendant_issues(self, key: str) -> Iterable[Issue]:
        for item in self.items.values():
            if item.parent == key:
                yield from item.issues
                if item.kind == "vm":
                    yield from self._descendant_issues(item.key)

    def _item_events(self) -> list[Event]:
        """Opening and closing events in tree order: group > VM > step."""
        if not self.opening and not self.closing:
            return []
        children: dict[str | None, list[Item]] = {}
        for item in self.items.values():
            children.setdefault(item.parent, []).append(item)
        out: list[Event] = []

        def walk(parent: str | None) -> None:
            for item in sorted(children.get(parent, ()), key=lambda i: i.order):
                out.extend(self.opening.get(item.key, ()))
                walk(item.key)
                out.extend(self.closing.get(item.key, ()))

        walk(None)
        return out

    # -- the plan ------------------------------------------------------------------------------

    def _plan_view(
        self, plan: PlanRuntimeDetails, old: PlanView | None, *, running: bool, halted: bool
    ) -> PlanView:
        result = normalize_result(plan.currentRunResult) or result_of(plan.executionResult)
        if result == "Undefined":
            result = result_of(plan.executionResult) or result
        started_at, finished_at = times_of(plan.executionResult)
        issues = issues_in(
            plan.executionResult.details if plan.executionResult else (),
            result_of(plan.executionResult),
            phase_of(plan.executionState, result_of(plan.executionResult)),
        )
        known = old.issues if old is not None else ()
        return PlanView(
            id=plan.id,
            name=plan.name or (old.name if old else ""),
            state=plan.state or "",
            state_name=plan.stateName or (plan_states.display_name(plan.state) if plan.state else ""),
            result_name=plan.resultName or "",
            plan_type=plan.planType or (old.plan_type if old else ""),
            plan_mode=plan.planMode or (old.plan_mode if old else ""),
            progress=float(plan.totalProgress or plan.progress or 0),
            running=running,
            halted=halted,
            result=result,
            undo_possible=plan.isUndoPossible,
            sig=runtime_sig(plan),
            started_at=started_at or (old.started_at if old else None),
            finished_at=finished_at,
            issues=known + tuple(i for i in issues if not has_issue(known, i)),
        )

    def _plan_issue_events(self, view: PlanView, old: PlanView | None) -> list[Event]:
        """The plan's own issues, unless its groups, VMs or steps reported some (a roll-up)."""
        if any(item.issues for item in self.items.values()):
            return []
        known = old.issues if old is not None else ()
        return [
            Event(kind="issue", name=view.name, severity=i.severity, text=i.text, at=i.at)
            for i in view.issues
            if not has_issue(known, i)
        ]

    def _halt_event(self, view: PlanView) -> Event:
        failed = [i for i in self.items.values() if i.phase == "failed"]
        culprit = max(failed, key=_latest, default=None)
        options = RETRY_OPTIONS + PROCEED_OPTIONS if failed else PROCEED_OPTIONS
        group = vm = None
        if culprit is not None:
            group, vm = self._names(culprit)
        return Event(
            kind="plan_halted",
            name=view.name,
            text=view.state_name,
            key=culprit.key if culprit else "",
            group=group,
            vm=vm,
            previous=culprit.name if culprit else None,
            options=options,
            undo=undo_possible(view),
            at=self.obs.at,
        )


def _latest(item: Item) -> tuple[bool, float, int]:
    """Sort key for "the failure that halted the plan": a step, the latest to finish."""
    finished = item.finished_at.timestamp() if item.finished_at else float("-inf")
    return item.kind == "step", finished, item.order
