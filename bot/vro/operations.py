"""THE action table: every plan action the bot can run, declared once.

One :class:`ActionSpec` per VRO plan operation says how people name it (``verb``, ``label``),
how it travels on the wire in each REST API version (:class:`Wire`: HTTP method, path segments
after ``/Plans/{planId}/``, query parameters), which parameters it takes and how they become a
body, whether the watcher narrates the run it starts, whether Approve carries a confirm dialog,
and in which API versions it exists. The client, ``perform``, the grammar and its help, the
policy's verb list, the watcher's titles, the Block Kit cards and the simulator's routes all read
this table; nothing else spells an action's label, path or method.

A pure module (no httpx, pydantic, SQLAlchemy, Slack or settings imports): the grammar and the
Block Kit builders import it freely.

Confidence of each fact, as in ``shared/reference/vro-api-notes.md``: ``[D721]`` the v7.21
reference, ``[D13]`` the v13 / v13.1 reference, ``[Dv3]`` the older per-endpoint pages (paths and
bodies unchanged since, probably), ``[DCL]`` a changelog, ``[INF]`` our inference. The tag of
each row is in its ``source`` field and shown by ``vro-bot``'s README reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from bot.vro.times import to_vro_query_time, to_vro_time

# --- API versions ---------------------------------------------------------------------------

AUTO: Final = "auto"
"""``VRO_API_VERSION=auto``: use the newest version the server answers."""

KNOWN_API_VERSIONS: Final[tuple[str, ...]] = ("v7.1", "v7.2", "v7.21", "v13", "v13.1", "v13.2")
"""Path versions the bot can speak, oldest first."""

RELEASE_VERSIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # [D721] "Only the v7.1, 7.2 and v7.21"; [D13] 13.0: "v7.2, v7.21 and v13";
        # [D13] 13.1: "v7.21, v13 and v13.1"; [INF] 13.2 by the same pattern.
        "v7.21": ("v7.1", "v7.2", "v7.21"),
        "v13": ("v7.2", "v7.21", "v13"),
        "v13.1": ("v7.21", "v13", "v13.1"),
        "v13.2": ("v13", "v13.1", "v13.2"),
    }
)
"""The path versions a VRO release serves, keyed by its newest one."""

NEWEST_API_VERSION: Final = KNOWN_API_VERSIONS[-1]

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?$", re.IGNORECASE)


def normalize_version(text: str) -> str:
    """``v13.1`` for ``13.1``, ``V13.1`` or ``v13.1``; :class:`ValueError` for anything else."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a VRO API version such as v7.21 or v13.1")
    major, minor = match.groups()
    return f"v{int(major)}" + (f".{minor}" if minor is not None else "")


def version_key(version: str) -> Decimal:
    """Versions order as decimals: v7.1 < v7.2 < v7.21 < v13 < v13.1 (Veeam's own numbering)."""
    try:
        return Decimal(normalize_version(version)[1:])
    except InvalidOperation:  # pragma: no cover - the regex admits only digits
        raise ValueError(f"{version!r} is not a VRO API version") from None


def newest_first(versions: tuple[str, ...] | list[str]) -> list[str]:
    return sorted({normalize_version(v) for v in versions}, key=version_key, reverse=True)


def product_name(version: str) -> str:
    """How people know the release that serves ``version`` as its newest: ``VRO 7.2.1``, ``VRO 13.1``."""
    version = normalize_version(version)
    major, _, minor = version[1:].partition(".")
    if len(minor) == 2:  # v7.21 is release 7.2.1
        return f"VRO {major}.{minor[0]}.{minor[1]}"
    return f"VRO {version[1:]}"


def at_least(version: str, floor: str | None) -> bool:
    return floor is None or version_key(version) >= version_key(floor)


# --- actions --------------------------------------------------------------------------------


class PlanAction(StrEnum):
    """VRO plan operations the bot can run (values are VRO's operation names)."""

    ENABLE = "Enable"
    DISABLE = "Disable"
    HALT = "Halt"
    FAILOVER = "Failover"
    PERMANENT_FAILOVER = "PermanentFailover"
    FAILBACK_TO_PRODUCTION = "FailbackToProduction"
    PREPARE_TO_FAILBACK = "PrepareToFailback"
    SWITCHOVER_TO_PRODUCTION = "SwitchoverToProduction"
    COMMIT_FAILBACK = "CommitFailback"
    UNDO = "Undo"
    RESET_STATE = "ResetState"
    RESET_CHANGE_LOG = "ResetChangeLog"
    RESTORE = "Restore"
    CONTINUE = "Continue"
    READINESS_CHECK = "ReadinessCheck"
    MALWARE_SCAN = "MalwareScan"
    SCHEDULE_AT = "ScheduleAt"
    SCHEDULE_AFTER = "ScheduleAfter"
    DELETE_SCHEDULE = "DeleteSchedule"
    CLONE = "Clone"


class ParamKind(StrEnum):
    BOOL = "bool"
    TIME = "time"
    ID = "id"
    TEXT = "text"
    OPTION = "option"


@dataclass(frozen=True, slots=True)
class Param:
    """One snake_case parameter of an action and its camelCase name on the wire."""

    name: str
    kind: ParamKind
    wire: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Wire:
    """How an action is sent from API version ``since`` on (until the next :class:`Wire`)."""

    method: str
    segments: tuple[str, ...]  # after /Plans/{planId}/
    since: str | None = None
    source: str = ""

    @property
    def path(self) -> str:
        return "/Plans/{id}/" + "/".join(self.segments)


@dataclass(frozen=True, slots=True)
class WireRequest:
    """What an action sends: JSON body (``None``: no body) and query parameters."""

    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)


BodyBuilder = Callable[[Mapping[str, Any], tzinfo], WireRequest]


def _no_body(_: Mapping[str, Any], __: tzinfo) -> WireRequest:
    return WireRequest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionSpec:
    """One row of the action table."""

    action: PlanAction
    verb: str  # the /vro verb
    label: str  # cards, buttons, threads, refusals: one name everywhere
    wires: tuple[Wire, ...]  # oldest first
    params: tuple[Param, ...] = ()
    body: BodyBuilder = _no_body
    narrated: bool = False  # VRO runs something the watcher narrates in a thread
    destructive: bool = False  # Approve carries a confirm dialog
    since: str | None = None  # first API version that has it (None: every version we speak)
    until: str | None = None  # first API version that no longer has it
    source: str = ""

    def available_on(self, version: str) -> bool:
        return at_least(version, self.since) and (
            self.until is None or version_key(version) < version_key(self.until)
        )

    def wire_for(self, version: str) -> Wire:
        chosen = self.wires[0]
        for wire in self.wires:
            if at_least(version, wire.since):
                chosen = wire
        return chosen

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def versions_note(self) -> str:
        """``VRO 13+``, ``up to VRO 7.2.1``, or empty when every version has it."""
        if self.since and self.until:
            return f"{product_name(self.since)} to before {product_name(self.until)}"
        if self.since:
            return f"{product_name(self.since)}+"
        if self.until:
            older = [v for v in KNOWN_API_VERSIONS if version_key(v) < version_key(self.until)]
            return f"up to {product_name(older[-1])}"
        return ""


def not_available_reason(spec: ActionSpec, version: str) -> str | None:
    """``Malware scan is not available on VRO 7.2.1 ...``; ``None`` when the version has it."""
    if spec.available_on(version):
        return None
    server = f"{product_name(version)} (REST API {normalize_version(version)})"
    if spec.since and not at_least(version, spec.since):
        return f"{spec.label} is not available on {server}: it needs {product_name(spec.since)} or later."
    return (
        f"{spec.label} is not available on {server}: VRO removed it in {product_name(spec.until or version)}."
    )


# --- body builders ---------------------------------------------------------------------------
# Keys are the camelCase names of the tables in vro-api-notes.md §3.4 (Json.NET binds any casing).


def _halt(values: Mapping[str, Any], _: tzinfo) -> WireRequest:
    return WireRequest({"fullStop": bool(values.get("full_stop", False))})  # [Dv3]


def _restore_point(values: Mapping[str, Any], zone: tzinfo) -> str | None:
    moment = values.get("restore_point_date")
    return to_vro_time(moment, zone) if isinstance(moment, datetime) else None  # null = latest [Dv3]


def _run_options(values: Mapping[str, Any], zone: tzinfo) -> dict[str, Any]:
    return {
        "executeChainedPlans": bool(values.get("execute_chained_plans", False)),
        "restorePointDate": _restore_point(values, zone),
        "protectStorageVolumes": bool(values.get("protect_storage_volumes", False)),
    }


def _failover(values: Mapping[str, Any], zone: tzinfo) -> WireRequest:
    return WireRequest(_run_options(values, zone))  # [Dv3]


def _restore(values: Mapping[str, Any], zone: tzinfo) -> WireRequest:
    body = {
        # restoreLocationId is required by the reference [Dv3][CODE]; perform fills in the
        # plan's own recovery location when the requester named none.
        "restoreLocationId": values.get("restore_location_id"),
        **_run_options(values, zone),
        "virusScan": bool(values.get("virus_scan", False)),
        "yaraScan": bool(values.get("yara_scan", False)),
    }
    if values.get("yara_rule_id"):
        body["yaraRuleId"] = values["yara_rule_id"]
    return WireRequest(body)


def _failback(values: Mapping[str, Any], _: tzinfo) -> WireRequest:
    return WireRequest(
        {
            "restoreLocationId": values.get("restore_location_id"),  # required [Dv3]
            "failbackRestoreVMTags": bool(values.get("failback_restore_vm_tags", False)),
        }
    )


def _flag(name: str, wire: str) -> BodyBuilder:
    def build(values: Mapping[str, Any], _: tzinfo) -> WireRequest:
        return WireRequest({wire: bool(values.get(name, False))})

    return build


def _continue(values: Mapping[str, Any], _: tzinfo) -> WireRequest:
    return WireRequest({"executionContinueOptions": values["option"]})  # [Dv3]


def _schedule_at(values: Mapping[str, Any], zone: tzinfo) -> WireRequest:
    # [D72] the time goes in the query string, offset-less in VRO's zone: 2021/11/12T12:00:00
    return WireRequest(query={"startTime": to_vro_query_time(values["start_time"], zone)})


def _schedule_after(values: Mapping[str, Any], _: tzinfo) -> WireRequest:
    return WireRequest(query={"previousPlanId": values["previous_plan_id"]})  # [Dv3]


def _clone(values: Mapping[str, Any], _: tzinfo) -> WireRequest:
    name = values.get("name")
    return WireRequest({"name": name} if name is not None else None)  # body [UNK]


_RESTORE_POINT = Param("restore_point_date", ParamKind.TIME, "restorePointDate")
_CHAINED = Param("execute_chained_plans", ParamKind.BOOL, "executeChainedPlans")
_PROTECT = Param("protect_storage_volumes", ParamKind.BOOL, "protectStorageVolumes")
_LOCATION = Param("restore_location_id", ParamKind.ID, "restoreLocationId")


def _post(segment: str, source: str = "[Dv3]") -> tuple[Wire, ...]:
    return (Wire("POST", (segment,), source=source),)


_A = PlanAction  # short name for the table below

ACTIONS: Final[tuple[ActionSpec, ...]] = (
    ActionSpec(action=_A.ENABLE, verb="enable", label="Enable", wires=_post("Enable"), source="[Dv3]"),
    ActionSpec(action=_A.DISABLE, verb="disable", label="Disable", wires=_post("Disable"), source="[Dv3]"),
    ActionSpec(
        action=_A.HALT,
        verb="halt",
        label="Halt",
        wires=_post("Halt"),
        params=(Param("full_stop", ParamKind.BOOL, "fullStop"),),
        body=_halt,
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.FAILOVER,
        verb="failover",
        label="Failover",
        wires=_post("Failover"),
        params=(_RESTORE_POINT, _CHAINED, _PROTECT),
        body=_failover,
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.PERMANENT_FAILOVER,
        verb="permanent-failover",
        label="Permanent failover",
        wires=_post("PermanentFailover"),
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.FAILBACK_TO_PRODUCTION,
        verb="failback",
        label="Failback to production",
        wires=_post("FailbackToProduction"),
        params=(_LOCATION, Param("failback_restore_vm_tags", ParamKind.BOOL, "failbackRestoreVMTags")),
        body=_failback,
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.PREPARE_TO_FAILBACK,
        verb="prepare-failback",
        label="Prepare for failback",
        wires=_post("PrepareToFailback", "[DCL v5]"),
        narrated=True,
        destructive=True,
        source="[DCL v5]",
    ),
    ActionSpec(
        action=_A.SWITCHOVER_TO_PRODUCTION,
        verb="switchover",
        label="Switchover to production",
        wires=_post("SwitchoverToProduction", "[DCL v5]"),
        narrated=True,
        destructive=True,
        source="[DCL v5]",
    ),
    ActionSpec(
        action=_A.COMMIT_FAILBACK,
        verb="commit-failback",
        label="Commit failback",
        wires=_post("CommitFailback"),
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.UNDO,
        verb="undo",
        label="Undo",
        wires=_post("Undo"),
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.RESET_STATE,
        verb="reset",
        label="Reset",
        wires=_post("ResetState"),
        params=(Param("execute_readiness_check", ParamKind.BOOL, "executeReadinessCheck"),),
        body=_flag("execute_readiness_check", "executeReadinessCheck"),
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.RESET_CHANGE_LOG,
        verb="clear-log",
        label="Clear change log",
        wires=_post("ResetChangeLog"),
        params=(Param("generate_dr_report", ParamKind.BOOL, "generateDrReport"),),
        body=_flag("generate_dr_report", "generateDrReport"),
        destructive=True,
        until="v13",  # [D13] v13's menus no longer list "Clear Change Log History for Plan"
        source="[Dv3]; removed in v13 [D13]",
    ),
    ActionSpec(
        action=_A.RESTORE,
        verb="restore",
        label="Restore",
        wires=_post("Restore"),
        params=(
            _LOCATION,
            _RESTORE_POINT,
            _CHAINED,
            _PROTECT,
            Param("virus_scan", ParamKind.BOOL, "virusScan"),
            Param("yara_scan", ParamKind.BOOL, "yaraScan"),
            Param("yara_rule_id", ParamKind.ID, "yaraRuleId"),
        ),
        body=_restore,
        narrated=True,
        destructive=True,
        source="[Dv3][CODE v7.1]",
    ),
    ActionSpec(
        action=_A.CONTINUE,
        verb="continue",
        label="Continue",
        wires=_post("Continue"),
        params=(Param("option", ParamKind.OPTION, "executionContinueOptions", required=True),),
        body=_continue,
        narrated=True,
        destructive=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.READINESS_CHECK,
        verb="check",
        label="Readiness check",
        wires=_post("ReadinessCheck"),
        params=(Param("generate_report", ParamKind.BOOL, "generateReport"),),
        body=_flag("generate_report", "generateReport"),
        narrated=True,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.MALWARE_SCAN,
        verb="scan",
        label="Malware scan",
        # [D13] "POST /api/v13/Plans/{planId}/MalwareScan: Run Malware Scan for Restore Plan";
        # its body is not in our copy of the reference [UNK]: we send none.
        wires=_post("MalwareScan", "[D13]"),
        narrated=True,
        since="v13",
        source="[D13]; body [UNK]",
    ),
    ActionSpec(
        action=_A.SCHEDULE_AT,
        verb="schedule",
        label="Schedule at a time",
        wires=(
            Wire("PUT", ("Schedule", "SaveTime"), source="[D72][Dv3]"),
            # [D13] 13.1 renamed it "Schedule Plan to Run on Schedule" and made it a POST; the
            # path is not in our copy of the reference [INF: same path, POST].
            Wire("POST", ("Schedule", "SaveTime"), since="v13.1", source="[D13] method; path [INF]"),
        ),
        params=(Param("start_time", ParamKind.TIME, "startTime", required=True),),
        body=_schedule_at,
        source="[D72][Dv3]",
    ),
    ActionSpec(
        action=_A.SCHEDULE_AFTER,
        verb="schedule",
        label="Schedule after another plan",
        wires=(Wire("PUT", ("Schedule", "SaveRunAfter"), source="[Dv3]"),),
        params=(Param("previous_plan_id", ParamKind.ID, "previousPlanId", required=True),),
        body=_schedule_after,
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.DELETE_SCHEDULE,
        verb="unschedule",
        label="Remove schedule",
        wires=(Wire("DELETE", ("Schedule",), source="[Dv3]"),),
        source="[Dv3]",
    ),
    ActionSpec(
        action=_A.CLONE,
        verb="clone",
        label="Clone",
        wires=_post("Clone", "[DCL v5]"),
        params=(Param("name", ParamKind.TEXT, "name"),),
        body=_clone,
        source="[DCL v5]; body and answer [UNK]",
    ),
)
"""Every plan action, in the order of VRO's reference."""

SPECS: Final[Mapping[str, ActionSpec]] = MappingProxyType({spec.action.value: spec for spec in ACTIONS})
"""The row of each action, keyed by its ``PlanAction`` value."""

VERB_ACTIONS: Final[Mapping[str, tuple[PlanAction, ...]]] = MappingProxyType(
    {
        verb: tuple(spec.action for spec in ACTIONS if spec.verb == verb)
        for verb in dict.fromkeys(spec.verb for spec in ACTIONS)
    }
)
"""The actions behind each ``/vro`` verb (``schedule`` has two)."""

NARRATED_ACTIONS: Final = frozenset(spec.action.value for spec in ACTIONS if spec.narrated)
"""Actions after which VRO runs something the watcher narrates in the thread."""


def spec_of(action: str) -> ActionSpec:
    """The row of ``action`` (a ``PlanAction`` value, any casing); :class:`KeyError` if unknown."""
    found = SPECS.get(action)
    if found is not None:
        return found
    lowered = str(action).lower()
    for spec in ACTIONS:
        if spec.action.value.lower() == lowered:
            return spec
    raise KeyError(action)


def label_of(action: str) -> str:
    """The one label of ``action``; an unknown name is shown as VRO wrote it."""
    try:
        return spec_of(action).label
    except KeyError:
        return str(action)


def available_actions(actions: frozenset[str], version: str | None) -> frozenset[str]:
    """``actions`` less those the server's API ``version`` lacks (all of them while it is unknown)."""
    if version is None:
        return actions
    return frozenset(a for a in actions if a not in SPECS or SPECS[a].available_on(version))


def action_for_wire(method: str, segments: tuple[str, ...], version: str) -> ActionSpec | None:
    """The action a request ``method /Plans/{id}/<segments>`` performs on ``version`` (any casing)."""
    wanted = tuple(s.lower() for s in segments)
    for spec in ACTIONS:
        if not spec.available_on(version):
            continue
        wire = spec.wire_for(version)
        if wire.method == method.upper() and tuple(s.lower() for s in wire.segments) == wanted:
            return spec
    return None


__all__ = [
    "ACTIONS",
    "AUTO",
    "KNOWN_API_VERSIONS",
    "NARRATED_ACTIONS",
    "NEWEST_API_VERSION",
    "RELEASE_VERSIONS",
    "SPECS",
    "VERB_ACTIONS",
    "ActionSpec",
    "Param",
    "ParamKind",
    "PlanAction",
    "Wire",
    "WireRequest",
    "action_for_wire",
    "available_actions",
    "label_of",
    "newest_first",
    "normalize_version",
    "not_available_reason",
    "product_name",
    "spec_of",
    "version_key",
]
