"""The watcher's memory of a plan run, and what one poll observed (pure data).

A :class:`Snapshot` is what the watcher knows: the plan's runtime state and every group, VM
and step it has seen, each with a normalized *phase* and the signature of what VRO last said
about it. It is stored in two parts (by :mod:`bot.watcher.store`): its head (:meth:`Snapshot.head_json`,
everything but the items) in the watch row, and each item as a row of its own
(:func:`item_json`), so a poll writes only what :func:`changed_items` finds.

An :class:`Observation` is what one poll fetched: always the plan, and only the collections
whose parent moved (see :func:`plan_moved`, :func:`item_moved`). Items the poll did not
fetch keep their remembered state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.vro import plan_states
from bot.vro.models import (
    ExecutionDetail,
    ExecutionResult,
    GroupRuntimeDetails,
    PlanRuntimeDetails,
    RuntimeItem,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.vro.results import normalize_result, word_of

Phase = Literal["pending", "running", "completed", "failed", "skipped", "halted"]
ItemKind = Literal["group", "vm", "step"]

TERMINAL: frozenset[str] = frozenset({"completed", "failed", "skipped", "halted"})

_PENDING_STATES = frozenset({"", "notstarted", "none", "pending", "waiting", "queued", "undefined"})
_COMPLETED_STATES = frozenset({"completed", "complete", "success", "succeeded", "finished", "done"})
_FAILED_STATES = frozenset({"failed", "error", "errored"})
_SKIPPED_STATES = frozenset({"skipped"})
_HALTED_STATES = frozenset({"halted", "stopped", "canceled", "cancelled", "aborted"})
_RUNNING_STATES = frozenset({"running", "inprogress", "started", "executing", "processing", "active"})

VIRTUAL_GROUP = "virtualgroup"


def phase_of(execution_state: str | None, result: str | None) -> Phase:
    """Normalize VRO's ``executionState`` (and result) into one of six phases.

    Only ``Completed`` is documented; other spellings are accepted. An unknown state reads as
    "running", unless it sounds finished (``Warning``, ``CompletedWithErrors``) or the item
    carries a final result (``Success`` / ``Warning`` / ``Error``) while its state does not say
    it runs: a step VRO finished under a new name must not stay "running" to the summary.
    """
    state = word_of(execution_state)
    outcome = normalize_result(result)
    if state in _PENDING_STATES:
        return "pending"
    if state in _FAILED_STATES or normalize_result(state) == "Error":
        return "failed"
    if state in _SKIPPED_STATES:
        return "skipped"
    if state in _HALTED_STATES:
        return "halted"
    if state in _COMPLETED_STATES or normalize_result(state) in ("Success", "Warning"):
        return "failed" if outcome == "Error" else "completed"
    if state in _RUNNING_STATES or state.endswith("ing"):
        return "running"
    if outcome == "Error":
        return "failed"
    if outcome in ("Success", "Warning"):
        return "completed"
    return "running"


@dataclass(frozen=True, slots=True)
class Issue:
    """A warning or an error VRO reported, with its friendlyInfo text."""

    severity: Literal["Warning", "Error"]
    text: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A group, VM or step as last seen (never mutated: a poll replaces changed items).

    A slotted dataclass, not a pydantic model: a watcher holds one per group, VM and step of
    every plan it watches (tens of thousands), and a model instance costs about 1.2 KB more
    (its ``__dict__`` and its set of fields set). :class:`Snapshot` still validates items read
    back from JSON, and serializes them, through pydantic.
    """

    key: str
    id: str
    kind: ItemKind
    name: str
    parent: str | None = None
    order: int = 0
    virtual: bool = False
    phase: Phase = "pending"
    result: str | None = None
    progress: float = 0
    sig: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    issues: tuple[Issue, ...] = ()
    details_fetched: bool = False
    counts: tuple[int, int, int, int] | None = None
    """VRO's own ``(successCount, warningCount, errorCount, totalCount)``: a group's over its VMs
    (over its steps when it has no VMs), a VM's over its steps. None for steps."""


class PlanView(BaseModel):
    """The plan's own runtime details, as last seen."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = ""
    state: str = ""
    state_name: str = ""
    result_name: str = ""
    plan_type: str = ""
    plan_mode: str = ""
    progress: float = 0
    running: bool = False
    halted: bool = False
    result: str | None = None
    undo_possible: bool | None = None
    sig: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    issues: tuple[Issue, ...] = ()


class Snapshot(BaseModel):
    """Everything the watcher knows about one run of one plan."""

    plan: PlanView | None = None
    items: dict[str, Item] = Field(default_factory=dict)
    # The plan's state when the watch began, and whether it has been seen running since:
    # together they tell a finished run from a plan that has not started yet.
    initial_state: str | None = None
    seen_running: bool = False
    run_started_at: datetime | None = None
    # When the bot first saw the run running (the bot's clock: durations never mix it with VRO's).
    seen_at: datetime | None = None
    reset_noticed: bool = False
    finished: bool = False
    next_order: int = 0

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Snapshot:
        return cls() if not data else cls.model_validate(data)

    def head_json(self) -> dict[str, Any]:
        """Everything but the items (what the watch row keeps)."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude={"items"})

    @classmethod
    def from_stored(
        cls, head: dict[str, Any] | None, items: Iterable[tuple[str, dict[str, Any]]]
    ) -> Snapshot:
        """The snapshot stored as its head and ``(key, item_json)`` pairs (in any order).

        The items come back in the order they were first seen, as :func:`bot.watcher.diff.advance`
        keeps them.
        """
        ordered = sorted(items, key=lambda pair: int(pair[1].get("order", 0)))
        return cls.model_validate(
            {**(head or {}), "items": {key: {**data, "key": key} for key, data in ordered}}
        )

    def same_head(self, other: Snapshot) -> bool:
        """Whether ``other`` has the same head (everything but the items) as this snapshot."""
        return all(getattr(self, name) == getattr(other, name) for name in _HEAD_FIELDS)

    def children(self, parent_key: str) -> list[Item]:
        """Items under ``parent_key``, in the order VRO listed them."""
        return sorted((i for i in self.items.values() if i.parent == parent_key), key=lambda i: i.order)

    def of_kind(self, kind: ItemKind) -> list[Item]:
        return sorted((i for i in self.items.values() if i.kind == kind), key=lambda i: i.order)


_HEAD_FIELDS = tuple(name for name in Snapshot.model_fields if name != "items")


_ITEM = TypeAdapter(Item)


def item_json(item: Item) -> dict[str, Any]:
    """An item as stored in its own row (its key is the row's)."""
    data: dict[str, Any] = _ITEM.dump_python(item, mode="json", exclude_defaults=True, exclude={"key"})
    return data


def changed_items(old: Snapshot, new: Snapshot) -> tuple[list[Item], list[str]]:
    """The items of ``new`` that ``old`` does not hold as they are, and the keys ``new`` dropped.

    :func:`bot.watcher.diff.advance` keeps an item it did not touch as the same (frozen) object,
    so identity settles most of them; an item re-read without a change compares equal.
    """
    if new.items is old.items:
        return [], []
    before = old.items
    changed: list[Item] = []
    added = 0
    for key, item in new.items.items():
        known = before.get(key)
        if known is item:
            continue
        if known is None:
            added += 1
        elif known == item:
            continue
        changed.append(item)
    # len(new) = len(old) - dropped + added: look for dropped keys only when there are some.
    dropped = len(before) + added - len(new.items)
    gone = [key for key in before if key not in new.items] if dropped else []
    return changed, gone


# --- keys and signatures ----------------------------------------------------------------------


def group_key(group_id: str) -> str:
    return f"g:{group_id}"


def vm_key(vm_id: str) -> str:
    return f"v:{vm_id}"


def step_key(owner_key: str, step_id: str) -> str:
    # Step ids are only guaranteed unique per owner, so the owner is part of the key.
    return f"s:{owner_key}/{step_id}"


def _result_sig(result: ExecutionResult | None) -> str:
    if result is None:
        return ""
    finish = result.finishTime.isoformat() if result.finishTime else ""
    return f"{result.result}|{len(result.details)}|{finish}"


def runtime_sig(item: RuntimeItem) -> str:
    """What must differ between two reads of an item for it to count as "moved"."""
    parts = [str(item.executionState), str(item.progress), _result_sig(item.executionResult)]
    if isinstance(item, GroupRuntimeDetails | VmRuntimeDetails):
        parts.append(f"{item.successCount}/{item.warningCount}/{item.errorCount}/{item.totalCount}")
    if isinstance(item, PlanRuntimeDetails):
        parts.extend((str(item.state), str(item.stateName), str(item.totalProgress), str(item.resultName)))
    return "#".join(parts)


def plan_moved(snapshot: Snapshot, plan: PlanRuntimeDetails) -> bool:
    """True when the plan's progress or state changed since the last poll (groups are re-read)."""
    return snapshot.plan is None or snapshot.plan.sig != runtime_sig(plan)


def item_moved(snapshot: Snapshot, key: str, item: RuntimeItem) -> bool:
    """True when a group or VM changed since it was last read (its children are re-read).

    An item seen for the first time counts as moved only once it has started: a group that
    has not started has no VMs or steps worth reading yet.
    """
    known = snapshot.items.get(key)
    if known is None:
        result = item.executionResult.result if item.executionResult else None
        return phase_of(item.executionState, result) != "pending" or bool(item.progress)
    return known.sig != runtime_sig(item)


def is_virtual_group(group: GroupRuntimeDetails) -> bool:
    return (group.groupType or "").replace(" ", "").lower() == VIRTUAL_GROUP


def plan_is_running(plan: PlanRuntimeDetails) -> bool:
    state = plan.state or ""
    return bool(plan.isRunningState) or (bool(state) and plan_states.is_running(state))


def plan_is_halted(plan: PlanRuntimeDetails) -> bool:
    if plan_is_running(plan):
        return False
    words = f"{plan.state or ''} {plan.stateName or ''}".lower()
    return "halt" in words


def needs_step_details(item: Item) -> bool:
    """A finished step with a warning or an error whose details have not been read yet."""
    if item.kind != "step" or item.details_fetched or item.phase not in TERMINAL:
        return False
    return item.phase == "failed" or (item.result or "").lower() in ("warning", "error")


def reported_issues(snapshot: Snapshot) -> list[tuple[Item | None, Issue]]:
    """Each warning and error once, where it happened, in narration order.

    A VM or group whose steps reported issues only rolls them up (VRO repeats them, often
    prefixed with a name, plus a "Complete, 1 warning" line), so only the steps' count; the
    plan's own issues count only when no item has any.
    """
    parents_with_issues: set[str] = set()
    for item in snapshot.items.values():
        if item.issues and item.parent:
            parents_with_issues.add(item.parent)
            parent = snapshot.items.get(item.parent)
            if parent is not None and parent.parent:
                parents_with_issues.add(parent.parent)
    out: list[tuple[Item | None, Issue]] = []
    seen: set[tuple[str, str, str]] = set()
    for item in sorted(snapshot.items.values(), key=lambda i: i.order):
        if item.key in parents_with_issues:
            continue
        for issue in item.issues:
            mark = (item.key, issue.severity, issue.text)
            if mark not in seen:
                seen.add(mark)
                out.append((item, issue))
    if not out and snapshot.plan is not None:
        out.extend((None, issue) for issue in snapshot.plan.issues)
    return out


# --- one poll's worth of data -----------------------------------------------------------------


@dataclass
class Observation:
    """What one poll fetched. ``groups is None`` means the groups were not re-read."""

    plan: PlanRuntimeDetails
    at: datetime
    groups: list[GroupRuntimeDetails] | None = None
    vms: dict[str, list[VmRuntimeDetails]] = field(default_factory=dict)  # by group key
    steps: dict[str, list[StepRuntimeDetails]] = field(default_factory=dict)  # by owner key
    step_details: dict[str, list[ExecutionDetail]] = field(default_factory=dict)  # by step key
