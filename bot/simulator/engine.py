"""The execution engine: where every step of a run stands at a given moment.

Nothing runs in the background. Starting (or continuing) a run lays out a *segment*: the start
and finish time of every pending step, computed from the plan's structure (groups in order;
VMs of a group one by one, or ``parallelProcessingVmsCount`` at a time when ``isParallel``;
steps of a VM in order) and each step's simulated duration divided by the speed factor. Asking
for a step's state at time ``t`` is then arithmetic. A failing critical step stops the segment
at its finish time (the plan halts); a user's Halt stops it at once. When a segment has ended
it is *committed* into per-step records, which a Continue can then retry or skip.

Roll-ups (VM, group, plan) are pure functions of the step views, so every level always agrees.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.simulator.estate import PlanSpec, StepSpec
from bot.vro.models import ContinueOption, ExecutionState, RunResult, Severity

NOT_STARTED = ExecutionState.NOT_STARTED
RUNNING = ExecutionState.RUNNING
COMPLETED = ExecutionState.COMPLETED
SKIPPED = ExecutionState.SKIPPED
HALTED = ExecutionState.HALTED

_RANK = {RunResult.UNDEFINED: 0, RunResult.SUCCESS: 1, RunResult.WARNING: 2, RunResult.ERROR: 3}
_SEVERITY = {
    RunResult.SUCCESS: Severity.SUCCESS,
    RunResult.WARNING: Severity.WARNING,
    RunResult.ERROR: Severity.ERROR,
}


@dataclass(frozen=True, slots=True)
class Detail:
    """One ``executionResult.details`` line."""

    friendlyInfo: str
    level: str
    severity: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class StepView:
    """A step at one moment: what RuntimeDetails shows for it."""

    state: str = NOT_STARTED
    result: str = RunResult.UNDEFINED
    progress: float = 0.0
    start: datetime | None = None
    finish: datetime | None = None
    details: tuple[Detail, ...] = ()


_NOT_STARTED = StepView()


@dataclass(slots=True)
class StepRecord:
    """A step's committed state inside a run (what earlier segments left behind)."""

    view: StepView = field(default_factory=StepView)
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    finish: datetime
    result: str
    detail: Detail


@dataclass(slots=True)
class Segment:
    """The pending steps of a run, laid out in time from ``started``."""

    started: datetime
    slots: dict[int, Slot]
    stop: datetime | None  # when the segment stops early (critical failure or Halt)
    failed: int | None  # the step whose failure stops it
    finished_views: dict[int, StepView] = field(default_factory=dict)  # settled, so memoised

    @property
    def end(self) -> datetime:
        if self.stop is not None:
            return self.stop
        return max((slot.finish for slot in self.slots.values()), default=self.started)


@dataclass(frozen=True, slots=True)
class StepRef:
    """Where a step sits in the plan: flat index, group, VM (``None`` in a virtual group)."""

    index: int
    spec: StepSpec
    group: int
    vm: int | None


class Layout:
    """A plan's structure flattened once: steps in execution order and who owns which."""

    def __init__(self, plan: PlanSpec) -> None:
        self.plan = plan
        self.steps: list[StepRef] = []
        self.group_steps: list[list[int]] = []
        self.units: list[list[list[int]]] = []  # per group: VMs (or the virtual group) -> steps
        self.vm_steps: dict[tuple[int, int], list[int]] = {}
        self.step_index: dict[str, int] = {}
        self.vm_index: dict[str, tuple[int, int]] = {}
        self.group_index: dict[str, int] = {}
        for g, group in enumerate(plan.groups):
            self.group_index[group.id.lower()] = g
            units: list[list[int]] = []
            all_steps: list[int] = []
            if group.steps:
                unit = [self._add(step, g, None) for step in group.steps]
                units.append(unit)
                all_steps.extend(unit)
            for v, vm in enumerate(group.vms):
                self.vm_index[vm.id.lower()] = (g, v)
                unit = [self._add(step, g, v) for step in vm.steps]
                self.vm_steps[(g, v)] = unit
                units.append(unit)
                all_steps.extend(unit)
            self.units.append(units)
            self.group_steps.append(all_steps)

    def _add(self, spec: StepSpec, group: int, vm: int | None) -> int:
        index = len(self.steps)
        self.steps.append(StepRef(index, spec, group, vm))
        self.step_index[spec.id.lower()] = index
        return index

    def unit_of(self, index: int) -> list[int]:
        """The steps of the step's VM (or of its virtual group)."""
        ref = self.steps[index]
        if ref.vm is None:
            return self.units[ref.group][0]
        return self.vm_steps[(ref.group, ref.vm)]


def step_outcome(spec: StepSpec, operation: str, attempt: int, *, is_check: bool) -> tuple[str, str]:
    """Result and friendlyInfo of one attempt of a step."""
    result: str
    if is_check:
        result = spec.checkOutcome
    elif operation in spec.outcomeOn and spec.outcome != RunResult.SUCCESS:
        failing = spec.outcome == RunResult.ERROR and attempt > spec.errorAttempts
        result = RunResult.SUCCESS if failing else spec.outcome
    else:
        result = RunResult.SUCCESS
    if result != RunResult.SUCCESS and spec.message:
        return result, spec.message
    text = {
        RunResult.SUCCESS: "Check passed" if is_check else "Completed successfully",
        RunResult.WARNING: "Check completed with a warning" if is_check else "Completed with a warning",
        RunResult.ERROR: "Check failed" if is_check else "Failed",
    }[result]
    return result, f"[{spec.name}] {text}"


def worst(results: Iterable[str]) -> str:
    best = RunResult.UNDEFINED
    for result in results:
        if _RANK.get(result, 0) > _RANK[best]:
            best = result
    return best


@dataclass
class Run:
    """One execution of an operation (Failover, Restore, Undo, ReadinessCheck, ...) of a plan."""

    layout: Layout
    operation: str
    is_check: bool
    user: str
    started: datetime
    speed: float
    chained: bool = False
    records: list[StepRecord] = field(default_factory=list)
    segment: Segment | None = None
    details: list[Detail] = field(default_factory=list)
    finished: datetime | None = None
    halted: bool = False
    failed_step: int | None = None
    progress_floor: float = 0.0
    continues: int = 0
    _views: tuple[datetime, list[StepView]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.records:
            self.records = [StepRecord() for _ in self.layout.steps]

    # --- durations ------------------------------------------------------------------------

    def duration(self, index: int) -> float:
        spec = self.layout.steps[index].spec
        return spec.checkDuration if self.is_check else spec.duration

    def _at(self, base: datetime, seconds: float) -> datetime:
        return base + timedelta(seconds=seconds / self.speed)

    # --- segments -------------------------------------------------------------------------

    def schedule(self, pending: set[int], at: datetime) -> None:
        """Lay out ``pending`` steps from ``at`` (groups in order, parallel VMs, steps in order)."""
        for index in pending:
            self.records[index].view = StepView(details=self.records[index].view.details)
        offsets: dict[int, tuple[float, float]] = {}
        clock = 0.0
        for g, units in enumerate(self.layout.units):
            todo = [[i for i in unit if i in pending] for unit in units]
            todo = [unit for unit in todo if unit]
            if not todo:
                continue
            group = self.layout.plan.groups[g]
            width = group.parallelProcessingVmsCount if group.isParallel and group.vms else 1
            free = [clock] * max(1, width)
            group_end = clock
            for unit in todo:
                begin = heapq.heappop(free)
                for index in unit:
                    end = begin + self.duration(index)
                    offsets[index] = (begin, end)
                    begin = end
                heapq.heappush(free, begin)
                group_end = max(group_end, begin)
            clock = group_end

        slots: dict[int, Slot] = {}
        stop: datetime | None = None
        failed: int | None = None
        for index, (begin, end) in offsets.items():
            ref = self.layout.steps[index]
            attempt = self.records[index].attempts + 1
            result, info = step_outcome(ref.spec, self.operation, attempt, is_check=self.is_check)
            finish = self._at(at, end)
            level = "Critical" if ref.spec.isCritical else "Normal"
            slots[index] = Slot(
                self._at(at, begin), finish, result, Detail(info, level, _SEVERITY[result], finish)
            )
            critical_failure = result == RunResult.ERROR and ref.spec.isCritical and not self.is_check
            if critical_failure and (stop is None or (finish, index) < (stop, failed or 0)):
                stop, failed = finish, index
        self.segment = Segment(at, slots, stop, failed)
        self._views = None

    def view(self, index: int, at: datetime) -> StepView:
        """Step ``index`` as it stands at ``at``."""
        record = self.records[index]
        segment = self.segment
        slot = segment.slots.get(index) if segment is not None else None
        if segment is None or slot is None:
            return record.view
        stop = segment.stop
        if stop is not None and slot.start >= stop:
            return record.view
        previous = record.view.details
        if at < slot.start:
            return StepView(details=previous) if previous else _NOT_STARTED
        span = (slot.finish - slot.start).total_seconds()
        if stop is not None and slot.finish > stop and at >= stop:
            done = (stop - slot.start).total_seconds() / span if span > 0 else 0.0
            note = Detail(
                f"[{self.layout.steps[index].spec.name}] Halted",
                "Normal",
                Severity.WARNING,
                stop,
            )
            return StepView(HALTED, RunResult.UNDEFINED, done, slot.start, stop, (*previous, note))
        if at < slot.finish:
            done = (at - slot.start).total_seconds() / span if span > 0 else 0.0
            return StepView(RUNNING, RunResult.UNDEFINED, done, slot.start, None, previous)
        settled = segment.finished_views.get(index)
        if settled is None:
            settled = StepView(COMPLETED, slot.result, 1.0, slot.start, slot.finish, (*previous, slot.detail))
            segment.finished_views[index] = settled
        return settled

    def views(self, at: datetime) -> list[StepView]:
        """Every step at ``at`` (memoised for the last moment asked)."""
        cached = self._views
        if cached is not None and cached[0] == at:
            return cached[1]
        views = [self.view(index, at) for index in range(len(self.records))]
        self._views = (at, views)
        return views

    def segment_end(self) -> datetime | None:
        return self.segment.end if self.segment is not None else None

    def commit(self, at: datetime | None = None) -> None:
        """Write the segment's outcome (as of ``at``, default its end) into the step records."""
        segment = self.segment
        if segment is None:
            return
        when = at if at is not None else segment.end
        if when < segment.end:  # cut short (halt, reboot): a later failure has not happened
            segment.stop = when
            segment.failed = None
        for index in segment.slots:
            view = self.view(index, when)
            if view.state != NOT_STARTED:
                self.records[index].attempts += 1
            self.records[index].view = view
        if segment.failed is not None:
            self.failed_step = segment.failed
        self.segment = None
        self._views = None

    def halt_now(self, at: datetime) -> None:
        """A user's Halt: running steps stop where they are, nothing new starts."""
        self.commit(at)

    # --- continue -------------------------------------------------------------------------

    def continue_plan(self, option: str, at: datetime) -> set[int]:
        """Apply a Continue option to the halted run; returns the steps to run next."""
        focus = [self.failed_step] if self.failed_step is not None else []
        if not focus:
            focus = [i for i, r in enumerate(self.records) if r.view.state == HALTED]
        layout = self.layout
        retry: set[int] = set()
        skip: set[int] = set()
        if option == ContinueOption.RETRY_FAILED_STEP:
            retry.update(focus)
        elif option == ContinueOption.RETRY_FAILED_VM:
            for index in focus:
                retry.update(layout.unit_of(index))
        elif option == ContinueOption.RETRY_FAILED_GROUP:
            for index in focus:
                retry.update(layout.group_steps[layout.steps[index].group])
        elif option == ContinueOption.PROCEED_TO_NEXT_STEP:
            skip.update(i for i in focus if self.records[i].view.state == HALTED)
        elif option == ContinueOption.PROCEED_TO_NEXT_VM:
            for index in focus:
                skip.update(self._unfinished(layout.unit_of(index)) - {index})
                if self.records[index].view.state == HALTED:
                    skip.add(index)
        elif option == ContinueOption.PROCEED_TO_NEXT_GROUP:
            for index in focus:
                group = layout.group_steps[layout.steps[index].group]
                skip.update(self._unfinished(group) - {index})
                if self.records[index].view.state == HALTED:
                    skip.add(index)
        else:  # the caller validates options; an unknown one changes nothing
            return set()
        for index in skip - retry:
            record = self.records[index]
            note = Detail(
                f"[{layout.steps[index].spec.name}] Skipped ({option})", "Normal", Severity.INFO, at
            )
            record.view = StepView(
                SKIPPED,
                RunResult.UNDEFINED,
                1.0,
                record.view.start,
                record.view.finish or at,
                (*record.view.details, note),
            )
        pending = set(retry)
        for index, record in enumerate(self.records):
            if record.view.state in (NOT_STARTED, HALTED, RUNNING) and index not in skip:
                pending.add(index)
        self._views = None
        self.failed_step = None
        self.halted = False
        self.finished = None
        self.continues += 1
        return pending

    def _unfinished(self, indices: Sequence[int]) -> set[int]:
        return {i for i in indices if self.records[i].view.state in (NOT_STARTED, HALTED, RUNNING)}

    # --- progress -------------------------------------------------------------------------

    def weights(self, indices: Sequence[int]) -> list[float]:
        weights = [self.duration(i) for i in indices]
        if sum(weights) <= 0:
            return [1.0] * len(indices)
        return weights


def weighted_progress(views: Sequence[StepView], weights: Sequence[float]) -> int:
    """Integer percent, 100 only when every step is done."""
    total = sum(weights)
    if total <= 0:
        return 0
    done = sum(view.progress * weight for view, weight in zip(views, weights, strict=True))
    percent = int(100 * done / total + 1e-9)
    if percent >= 100 and any(v.state not in (COMPLETED, SKIPPED) for v in views):
        return 99
    return min(100, percent)


def rollup_state(states: Sequence[str], *, halted: bool, finished: bool) -> str:
    """The execution state of a VM / group / plan from its parts' states."""
    if not states:
        return COMPLETED if finished else NOT_STARTED
    if all(s == NOT_STARTED for s in states):
        return NOT_STARTED
    if all(s == SKIPPED for s in states):
        return SKIPPED
    if all(s in (COMPLETED, SKIPPED) for s in states):
        return COMPLETED
    if any(s == RUNNING for s in states):
        return RUNNING
    return HALTED if halted else RUNNING


def counts(results: Iterable[str]) -> tuple[int, int, int]:
    """``(successCount, warningCount, errorCount)``."""
    success = warning = error = 0
    for result in results:
        if result == RunResult.SUCCESS:
            success += 1
        elif result == RunResult.WARNING:
            warning += 1
        elif result == RunResult.ERROR:
            error += 1
    return success, warning, error


def result_name(phase: str, errors: int, warnings: int) -> str:
    """``"Complete, no errors, 1 warning"``."""

    def part(count: int, noun: str) -> str:
        if count == 0:
            return f"no {noun}s"
        return f"{count} {noun}" + ("" if count == 1 else "s")

    return f"{phase}, {part(errors, 'error')}, {part(warnings, 'warning')}"
