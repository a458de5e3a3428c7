"""VRO's plan state machine, as one data table.

Which action may run from which plan state and mode, for which plan type, which in-progress
state it enters and which stable state it ends in. Used by the simulator (to behave like VRO),
by the bot's pre-check (to refuse early with a clear sentence) and by the action modal (to offer
only what makes sense).

Only one machine value is documented (``RestoreComplete``, display ``Restored``, stable display
``Restore``, order ``300. Restored``); everything else follows the proposal of
``vro-api-notes.md`` §7.2 and is **inferred**. Rows and states marked ``inferred=True`` are
assumptions: correct them here, in the two tables, and every user of this module follows.

Action names are VRO's operation names (the values of ``bot.vro.operations.PlanAction``, a
``StrEnum``, so either the enum member or the plain string may be passed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.vro.models import PlanMode, PlanType
from bot.vro.operations import ACTIONS as _ACTION_ROWS
from bot.vro.operations import PlanAction as PlanAction  # re-exported: the table's actions

# --- actions --------------------------------------------------------------------------------


# Short names for the tables below.
ENABLE, DISABLE, HALT = PlanAction.ENABLE, PlanAction.DISABLE, PlanAction.HALT
FAILOVER, PERMANENT_FAILOVER = PlanAction.FAILOVER, PlanAction.PERMANENT_FAILOVER
FAILBACK_TO_PRODUCTION, PREPARE_TO_FAILBACK = (
    PlanAction.FAILBACK_TO_PRODUCTION,
    PlanAction.PREPARE_TO_FAILBACK,
)
SWITCHOVER_TO_PRODUCTION, COMMIT_FAILBACK = PlanAction.SWITCHOVER_TO_PRODUCTION, PlanAction.COMMIT_FAILBACK
UNDO, RESET_STATE, RESET_CHANGE_LOG = PlanAction.UNDO, PlanAction.RESET_STATE, PlanAction.RESET_CHANGE_LOG
RESTORE, CONTINUE, READINESS_CHECK = PlanAction.RESTORE, PlanAction.CONTINUE, PlanAction.READINESS_CHECK
SCHEDULE_AT, SCHEDULE_AFTER = PlanAction.SCHEDULE_AT, PlanAction.SCHEDULE_AFTER
DELETE_SCHEDULE, CLONE = PlanAction.DELETE_SCHEDULE, PlanAction.CLONE
MALWARE_SCAN = PlanAction.MALWARE_SCAN

ALL_ACTIONS: tuple[str, ...] = tuple(PlanAction)

# How an action reads in a sentence ("Permanent failover is not possible ..."): its one label.
ACTION_TITLES: dict[str, str] = {row.action.value: row.label for row in _ACTION_ROWS}

# --- states ---------------------------------------------------------------------------------

READY = "Ready"
CHECK_IN_PROGRESS = "CheckInProgress"
CHECK_HALTING = "CheckHalting"
MALWARE_SCAN_IN_PROGRESS = "MalwareScanInProgress"
FAILOVER_IN_PROGRESS = "FailoverInProgress"
FAILOVER_COMPLETE = "FailoverComplete"
UNDO_FAILOVER_IN_PROGRESS = "UndoFailoverInProgress"
UNDO_FAILOVER_COMPLETE = "UndoFailoverComplete"
PERMANENT_FAILOVER_IN_PROGRESS = "PermanentFailoverInProgress"
PERMANENT_FAILOVER_COMPLETE = "PermanentFailoverComplete"
PREPARE_FAILBACK_IN_PROGRESS = "PrepareFailbackInProgress"
PREPARE_FAILBACK_COMPLETE = "PrepareFailbackComplete"
FAILBACK_IN_PROGRESS = "FailbackInProgress"
FAILBACK_COMPLETE = "FailbackComplete"
UNDO_FAILBACK_IN_PROGRESS = "UndoFailbackInProgress"
UNDO_FAILBACK_COMPLETE = "UndoFailbackComplete"
COMMIT_FAILBACK_IN_PROGRESS = "CommitFailbackInProgress"
COMMIT_FAILBACK_COMPLETE = "CommitFailbackComplete"
RESTORE_IN_PROGRESS = "RestoreInProgress"
RESTORE_COMPLETE = "RestoreComplete"
HALTING = "Halting"
HALTED = "Halted"

# Sentinel for rows whose target depends on what was halted (Continue resumes that operation).
RESUME_HALTED = "<resume halted operation>"


@dataclass(frozen=True, slots=True)
class StateInfo:
    """One plan state: its machine value and how the UI shows it."""

    state: str
    name: str  # ``stateName``
    stable_name: str  # ``lastStableStateName`` when this is the last stable state
    order: int  # number in ``stateOrder`` ("300. Restored")
    running: bool
    inferred: bool = True


# THE STATE TABLE. Only RestoreComplete is documented (seed sample); the rest is inferred.
STATES: tuple[StateInfo, ...] = (
    StateInfo(READY, "Ready", "Ready", 100, running=False),
    StateInfo(CHECK_IN_PROGRESS, "Checking", "Checking", 110, running=True),
    StateInfo(CHECK_HALTING, "Check halting", "Check halting", 120, running=True),
    StateInfo(MALWARE_SCAN_IN_PROGRESS, "Scanning for malware", "Malware scan", 130, running=True),
    StateInfo(FAILOVER_IN_PROGRESS, "Failover in progress", "Failover", 200, running=True),
    StateInfo(FAILOVER_COMPLETE, "Failover", "Failover", 210, running=False),
    StateInfo(UNDO_FAILOVER_IN_PROGRESS, "Undo failover in progress", "Undo Failover", 220, running=True),
    StateInfo(UNDO_FAILOVER_COMPLETE, "Undo Failover", "Undo Failover", 230, running=False),
    StateInfo(
        PERMANENT_FAILOVER_IN_PROGRESS,
        "Permanent failover in progress",
        "Permanent Failover",
        240,
        running=True,
    ),
    StateInfo(PERMANENT_FAILOVER_COMPLETE, "Permanent Failover", "Permanent Failover", 250, running=False),
    StateInfo(RESTORE_IN_PROGRESS, "Restore in progress", "Restore", 290, running=True),
    StateInfo(RESTORE_COMPLETE, "Restored", "Restore", 300, running=False, inferred=False),
    StateInfo(
        PREPARE_FAILBACK_IN_PROGRESS,
        "Prepare for failback in progress",
        "Prepare for Failback",
        400,
        running=True,
    ),
    StateInfo(PREPARE_FAILBACK_COMPLETE, "Prepare for Failback", "Prepare for Failback", 410, running=False),
    StateInfo(FAILBACK_IN_PROGRESS, "Failback in progress", "Failback", 420, running=True),
    StateInfo(FAILBACK_COMPLETE, "Failback", "Failback", 430, running=False),
    StateInfo(UNDO_FAILBACK_IN_PROGRESS, "Undo failback in progress", "Undo Failback", 440, running=True),
    StateInfo(UNDO_FAILBACK_COMPLETE, "Undo Failback", "Undo Failback", 450, running=False),
    StateInfo(
        COMMIT_FAILBACK_IN_PROGRESS, "Commit failback in progress", "Commit Failback", 460, running=True
    ),
    StateInfo(COMMIT_FAILBACK_COMPLETE, "Commit Failback", "Commit Failback", 470, running=False),
    StateInfo(HALTING, "Halting", "Halting", 900, running=True),
    StateInfo(HALTED, "Halted", "Halted", 910, running=False),
)

STATE_INFO: dict[str, StateInfo] = {info.state: info for info in STATES}

# --- the transition table -------------------------------------------------------------------

_REPLICAS = frozenset({PlanType.REPLICA, PlanType.CDP_REPLICA})
_FAILOVER_TYPES = _REPLICAS | {PlanType.STORAGE}
_RESTORE_TYPES = frozenset({PlanType.RESTORE, PlanType.CLOUD})
_ALL_TYPES = frozenset(PlanType.ALL)

_ENABLED = frozenset({PlanMode.ENABLED})
_DISABLED = frozenset({PlanMode.DISABLED})
_ANY_MODE = frozenset({PlanMode.ENABLED, PlanMode.DISABLED, PlanMode.IN_USE})
# After a run the plan is IN-USE until reset; a scenario may also leave it Enabled.
_USED = frozenset({PlanMode.ENABLED, PlanMode.IN_USE})

_RUNNING_STATES = frozenset(info.state for info in STATES if info.running)
_STABLE_STATES = frozenset(info.state for info in STATES if not info.running)
_CHECKING = frozenset({CHECK_IN_PROGRESS, MALWARE_SCAN_IN_PROGRESS})
_HALTABLE = _RUNNING_STATES - {HALTING, CHECK_HALTING} - _CHECKING
_AFTER_RUN = frozenset(
    {
        UNDO_FAILOVER_COMPLETE,
        PERMANENT_FAILOVER_COMPLETE,
        UNDO_FAILBACK_COMPLETE,
        COMMIT_FAILBACK_COMPLETE,
        RESTORE_COMPLETE,
        HALTED,
    }
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: ``action`` is allowed for ``plan_types`` in ``from_states`` x ``modes``.

    ``enters`` is the in-progress state the plan goes to (``None``: no state change, or an
    instantaneous one straight to ``ends``); ``ends`` the stable state when it completes
    (``None``: unchanged); ``mode_after`` the plan mode afterwards (``None``: unchanged).
    """

    action: str
    plan_types: frozenset[str]
    from_states: frozenset[str]
    modes: frozenset[str]
    enters: str | None = None
    ends: str | None = None
    mode_after: str | None = None
    inferred: bool = True


def _s(*states: str) -> frozenset[str]:
    return frozenset(states)


# THE TRANSITION TABLE (vro-api-notes.md §7; all rows inferred from the UI-level description).
RULES: tuple[Rule, ...] = (
    # mode changes
    Rule(ENABLE, _ALL_TYPES, _s(READY), _DISABLED, mode_after=PlanMode.ENABLED),
    Rule(DISABLE, _ALL_TYPES, _s(READY), _ENABLED, mode_after=PlanMode.DISABLED),
    # runs from Ready (only ENABLED plans run); a run leaves the plan IN-USE until reset
    Rule(
        FAILOVER,
        _FAILOVER_TYPES,
        _s(READY),
        _ENABLED,
        FAILOVER_IN_PROGRESS,
        FAILOVER_COMPLETE,
        PlanMode.IN_USE,
    ),
    Rule(
        RESTORE, _RESTORE_TYPES, _s(READY), _ENABLED, RESTORE_IN_PROGRESS, RESTORE_COMPLETE, PlanMode.IN_USE
    ),
    # readiness checks run from Ready in either mode and return to Ready
    Rule(READINESS_CHECK, _ALL_TYPES, _s(READY), _ANY_MODE, CHECK_IN_PROGRESS, READY),
    # [D13] "Run Malware Scan for Restore Plan" (v13+); like a check it leaves the plan Ready [INF]
    Rule(MALWARE_SCAN, _RESTORE_TYPES, _s(READY), _ANY_MODE, MALWARE_SCAN_IN_PROGRESS, READY),
    # after a failover (replica plans)
    Rule(
        PERMANENT_FAILOVER,
        _REPLICAS,
        _s(FAILOVER_COMPLETE),
        _USED,
        PERMANENT_FAILOVER_IN_PROGRESS,
        PERMANENT_FAILOVER_COMPLETE,
        PlanMode.IN_USE,
    ),
    Rule(
        FAILBACK_TO_PRODUCTION,
        _REPLICAS,
        _s(FAILOVER_COMPLETE),
        _USED,
        FAILBACK_IN_PROGRESS,
        FAILBACK_COMPLETE,
        PlanMode.IN_USE,
    ),
    Rule(
        PREPARE_TO_FAILBACK,
        _REPLICAS,
        _s(FAILOVER_COMPLETE),
        _USED,
        PREPARE_FAILBACK_IN_PROGRESS,
        PREPARE_FAILBACK_COMPLETE,
        PlanMode.IN_USE,
    ),
    Rule(
        SWITCHOVER_TO_PRODUCTION,
        _REPLICAS,
        _s(PREPARE_FAILBACK_COMPLETE),
        _USED,
        FAILBACK_IN_PROGRESS,
        FAILBACK_COMPLETE,
        PlanMode.IN_USE,
    ),
    Rule(
        COMMIT_FAILBACK,
        _REPLICAS,
        _s(FAILBACK_COMPLETE),
        _USED,
        COMMIT_FAILBACK_IN_PROGRESS,
        COMMIT_FAILBACK_COMPLETE,
        PlanMode.IN_USE,
    ),
    # undo: replica plans from Failover / Halted / Failback (+ Prepare for Failback, a guess);
    # storage plans from Halted and (likely) Failover; never restore or cloud plans
    Rule(
        UNDO,
        _FAILOVER_TYPES,
        _s(FAILOVER_COMPLETE, HALTED),
        _USED,
        UNDO_FAILOVER_IN_PROGRESS,
        UNDO_FAILOVER_COMPLETE,
        PlanMode.IN_USE,
    ),
    Rule(
        UNDO,
        _REPLICAS,
        _s(FAILBACK_COMPLETE, PREPARE_FAILBACK_COMPLETE),
        _USED,
        UNDO_FAILBACK_IN_PROGRESS,
        UNDO_FAILBACK_COMPLETE,
        PlanMode.IN_USE,
    ),
    # halt any run; halting a check ends it back in Ready
    Rule(HALT, _ALL_TYPES, _HALTABLE, _ANY_MODE, HALTING, HALTED),
    Rule(HALT, _ALL_TYPES, _CHECKING, _ANY_MODE, CHECK_HALTING, READY),
    # continue resumes whatever was halted
    Rule(CONTINUE, _ALL_TYPES, _s(HALTED), _USED, RESUME_HALTED, RESUME_HALTED),
    # reset: back to Ready and (per the v3 docs) DISABLED; instantaneous here
    Rule(RESET_STATE, _ALL_TYPES, _AFTER_RUN, _USED, None, READY, PlanMode.DISABLED),
    # housekeeping
    Rule(RESET_CHANGE_LOG, _ALL_TYPES, _s(READY), _DISABLED),
    Rule(SCHEDULE_AT, _ALL_TYPES, _s(READY), _ENABLED),
    Rule(SCHEDULE_AFTER, _ALL_TYPES, _s(READY), _ENABLED),
    Rule(DELETE_SCHEDULE, _ALL_TYPES, _STABLE_STATES, _ANY_MODE),
    Rule(CLONE, _ALL_TYPES, _STABLE_STATES | _RUNNING_STATES, _ANY_MODE),
)

# Which plan types an action can ever apply to (for "not available for X plans" refusals).
_ACTION_TYPES: dict[str, frozenset[str]] = {}
for _rule in RULES:
    _ACTION_TYPES[_rule.action] = _ACTION_TYPES.get(_rule.action, frozenset()) | _rule.plan_types

# What a Slack user should do instead, when an action does not fit the plan type.
_TYPE_HINTS: dict[str, str] = {
    RESTORE: "replica and storage plans fail over instead",
    FAILOVER: "restore and cloud plans run Restore instead",
    UNDO: "restore and cloud plans are reset instead",
}

# --- queries --------------------------------------------------------------------------------


def _norm_mode(mode: str) -> str:
    lowered = mode.replace("-", "").replace("_", "").replace(" ", "").lower()
    for known in (PlanMode.ENABLED, PlanMode.DISABLED, PlanMode.IN_USE):
        if known.lower() == lowered:
            return known
    return mode


def _norm_type(plan_type: str) -> str:
    for known in PlanType.ALL:
        if known.lower() == plan_type.lower():
            return known
    return plan_type


def _norm_action(action: str) -> str:
    for known in ALL_ACTIONS:
        if known.lower() == str(action).lower():
            return known
    return str(action)


def find_rule(plan_type: str, state: str, mode: str, action: str) -> Rule | None:
    """The row allowing ``action`` now, or ``None`` when it is not allowed."""
    plan_type, mode, action = _norm_type(plan_type), _norm_mode(mode), _norm_action(action)
    for rule in RULES:
        if (
            rule.action == action
            and plan_type in rule.plan_types
            and state in rule.from_states
            and mode in rule.modes
        ):
            return rule
    return None


def allowed_actions(plan_type: str, state: str, mode: str) -> frozenset[str]:
    """Every action VRO would accept for a plan of this type, state and mode."""
    return frozenset(
        action for action in ALL_ACTIONS if find_rule(plan_type, state, mode, action) is not None
    )


def is_running(state: str) -> bool:
    """True while an operation is in progress (including halting)."""
    info = STATE_INFO.get(state)
    if info is not None:
        return info.running
    return state.endswith(("InProgress", "ing"))


def is_stable(state: str) -> bool:
    """True when nothing is running: the plan rests in this state."""
    return not is_running(state)


def _split_words(value: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", value)


def display_name(state: str) -> str:
    """``stateName`` as the UI shows it ("Restored" for ``RestoreComplete``)."""
    info = STATE_INFO.get(state)
    return info.name if info is not None else _split_words(state)


def state_phrase(state: str) -> str:
    """How the state reads after "plan 'X' is ...": "Ready", "in Failover state", "running (...)"."""
    shown = display_name(state)
    if state in (READY, HALTED, HALTING, RESTORE_COMPLETE):
        return shown
    if is_running(state):
        return f"running ({shown})"
    return f"in {shown} state"


def stable_display_name(state: str) -> str:
    """``lastStableStateName`` for a stable state ("Restore" for ``RestoreComplete``)."""
    info = STATE_INFO.get(state)
    return info.stable_name if info is not None else _split_words(state)


def state_order(state: str) -> str:
    """``stateOrder``: ``"<number>. <display name>"``, e.g. ``"300. Restored"``."""
    info = STATE_INFO.get(state)
    order = info.order if info is not None else 999
    return f"{order}. {display_name(state)}"


def mode_display_name(mode: str) -> str:
    """How a plan mode reads in a sentence."""
    mode = _norm_mode(mode)
    return "In use" if mode == PlanMode.IN_USE else mode


def is_undo_possible(plan_type: str, state: str, mode: str) -> bool:
    """``isUndoPossible`` of the plan's runtime details, derived from the table."""
    return find_rule(plan_type, state, mode, UNDO) is not None


def is_reverse_possible(plan_type: str, state: str, mode: str) -> bool:
    """``isReversePossible``: a failback-type reversal is offered now."""
    allowed = allowed_actions(plan_type, state, mode)
    return bool(allowed & {FAILBACK_TO_PRODUCTION, PREPARE_TO_FAILBACK, SWITCHOVER_TO_PRODUCTION})


def refusal_reason(
    plan_type: str,
    state: str,
    mode: str,
    action: str,
    *,
    plan_name: str | None = None,
    name_action: Callable[[str], str] = str,
) -> str | None:
    """Why ``action`` is refused now, as one sentence naming the current state; ``None`` if allowed.

    The actions possible instead are named by ``name_action`` (VRO's own names by default; the
    bot names the ``/vro`` verbs a person would type)."""
    plan_type, mode, action = _norm_type(plan_type), _norm_mode(mode), _norm_action(action)
    if find_rule(plan_type, state, mode, action) is not None:
        return None
    subject = f"plan '{plan_name}'" if plan_name else "the plan"
    title = ACTION_TITLES.get(action, action)
    shown = state_phrase(state)
    if action not in ACTION_TITLES:
        return f"'{action}' is not a plan action VRO knows; {subject} is {shown}."
    types = _ACTION_TYPES.get(action, frozenset())
    if plan_type not in types:
        hint = _TYPE_HINTS.get(action, f"it applies to {', '.join(sorted(types))} plans only")
        return f"{title} is not possible while {subject} is {shown}: it is a {plan_type} plan, and {hint}."
    if state in (HALTING, CHECK_HALTING):
        return f"{title} is not possible while {subject} is {shown}; wait a moment for it to stop."
    if is_running(state):
        return f"{title} is not possible while {subject} is {shown}; wait for it to finish, or halt it first."
    # Would the action be allowed from this state in another mode?
    other_modes = [
        other
        for other in (PlanMode.ENABLED, PlanMode.DISABLED, PlanMode.IN_USE)
        if other != mode and find_rule(plan_type, state, other, action) is not None
    ]
    if (action, mode) in ((ENABLE, PlanMode.ENABLED), (DISABLE, PlanMode.DISABLED)):
        return f"{title} is not possible: {subject} is already {mode}."
    if other_modes:
        if mode == PlanMode.DISABLED and PlanMode.ENABLED in other_modes:
            return f"{title} is not possible while {subject} is Disabled; enable it first."
        if mode == PlanMode.ENABLED and PlanMode.DISABLED in other_modes:
            return f"{title} is not possible while {subject} is Enabled; disable it first."
        return f"{title} is not possible while {subject} is {mode_display_name(mode)}; reset it first."
    if action == CONTINUE:
        return f"Continue is only possible for a halted plan, and {subject} is {shown}."
    now = sorted({name_action(a) for a in allowed_actions(plan_type, state, mode) - {CLONE, DELETE_SCHEDULE}})
    if mode == PlanMode.IN_USE and RESET_STATE not in now and state != READY:
        tail = "; it is in use until it is reset"
    elif now:
        tail = f"; possible now: {', '.join(now)}"
    else:
        tail = ""
    return f"{title} is not possible while {subject} is {shown}{tail}."
