"""The ``/vro`` command grammar: one table, one entry per verb, and a parser driven by it.

The table (:data:`VERBS`) is the single source of the grammar, the help texts, the usage lines
and the README command reference, so they cannot drift apart. :func:`parse` turns the text of a
slash command into a :class:`ParsedCommand` or a :class:`ParseError`; it never raises.

Things the parser accepts because people type them under stress:

* shell-like quoting with ``"..."`` and ``'...'`` and Slack's smart quotes (“ ” ‘ ’); an
  apostrophe inside a word (``Bob’s``) is just a character;
* ``--opt value`` and ``--opt=value``; option names in any case; the em / en dash that phones
  and macOS put in place of ``--`` (``—reason``); ``--`` ends the options;
* verbs in any case, with or without dashes (``PermanentFailover``), and VRO's operation names
  (``ReadinessCheck``);
* a plan name with spaces but without quotes when nothing can follow it (``status SAP Tier1``);
* Slack's HTML escaping of ``&``, ``<`` and ``>``.

Times (``--restore-point``, ``schedule <plan> at <time>``) are UTC unless an offset is given:
``2026-11-27T14:00``, ``2026-11-27 14:00``, ``2026/11/27 14:00``, ``2026-11-27T14:00+02:00``,
``2026-11-27 14:00 UTC``, ``14:00`` (the most recent 14:00 for a restore point, the next one for
a schedule), ``today 14:00``, ``tomorrow 09:30``, ``yesterday 23:00``. A restore point must not
be in the future and a schedule must not be in the past. Parsed times are passed on as ISO
strings in UTC.

Plan, group, VM, step and location names stay unresolved strings (resolution needs VRO); see
:mod:`bot.slack.resolve`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from bot.vro.operations import ActionSpec, PlanAction, product_name, spec_of

COMMAND: Final = "/vro"
MAX_REASON_LENGTH: Final = 500
MAX_TEXT_LENGTH: Final = 4000

# ----------------------------------------------------------------------------------------------
# Vocabulary of the table
# ----------------------------------------------------------------------------------------------


class Kind(StrEnum):
    """What a verb does: read VRO, change VRO (through approvals), or act on the bot itself."""

    QUERY = "query"
    ACTION = "action"
    LOCAL = "local"


class ValueType(StrEnum):
    """How an argument or option value is read."""

    FLAG = "flag"
    STRING = "string"
    DATETIME = "datetime"
    CHOICE = "choice"


class RefKind(StrEnum):
    """Things named by the user that only VRO can turn into ids."""

    PLAN = "plan"
    GROUP = "group"
    VM = "vm"
    STEP = "step"
    LOCATION = "location"


class TimeDirection(StrEnum):
    """Which side of *now* a time must be on (decides what a bare ``14:00`` means)."""

    PAST = "past"
    FUTURE = "future"


@dataclass(frozen=True)
class Choice:
    """One accepted value of a choice: the canonical value, a label and friendly spellings."""

    value: str
    label: str
    aliases: tuple[str, ...] = ()

    def spellings(self) -> tuple[str, ...]:
        return (self.value, *self.aliases)


@dataclass(frozen=True)
class ArgSpec:
    """A positional argument."""

    name: str
    help: str
    type: ValueType = ValueType.STRING
    required: bool = True
    greedy: bool = False  # takes every remaining word, so names need no quotes
    ref: RefKind | None = None
    param: str | None = None  # key in ``bot.vro.actions.perform`` params
    choices: tuple[Choice, ...] = ()
    direction: TimeDirection | None = None
    metavar: str = ""  # shown in usage instead of the name

    @property
    def placeholder(self) -> str:
        label = self.metavar or self.name
        return f"<{label}>" if self.required else f"[{label}]"


@dataclass(frozen=True)
class OptionSpec:
    """A ``--name`` option."""

    name: str
    type: ValueType
    help: str
    metavar: str = ""
    param: str | None = None
    ref: RefKind | None = None
    choices: tuple[Choice, ...] = ()
    direction: TimeDirection | None = None

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def synopsis(self) -> str:
        if self.type is ValueType.FLAG:
            return self.flag
        return f"{self.flag} {self.metavar or self.name.upper()}"


@dataclass(frozen=True)
class Form:
    """One shape of a verb's arguments. Only ``schedule`` has two (``at`` / ``after``)."""

    args: tuple[ArgSpec, ...] = ()
    action: str | None = None  # the ``PlanAction`` name this form performs
    keyword: str | None = None  # a literal word after the first argument

    def synopsis(self, verb: str) -> str:
        parts = [verb]
        for index, arg in enumerate(self.args):
            if index == 1 and self.keyword:
                parts.append(self.keyword)
            parts.append(arg.placeholder)
        return " ".join(parts)


@dataclass(frozen=True)
class VerbSpec:
    """Everything about one verb: grammar, help, what it calls in VRO and how it is authorized."""

    verb: str
    kind: Kind
    summary: str
    help: str
    vro_call: str
    forms: tuple[Form, ...] = (Form(),)
    options: tuple[OptionSpec, ...] = ()
    policy_verb: str | None = None  # key in the policy file; None = a read (role ``viewer``)
    destructive: bool = False  # Approve carries a confirm dialog
    exclusive: tuple[frozenset[str], ...] = ()  # option names that cannot be combined
    examples: tuple[str, ...] = ()

    @property
    def actions(self) -> tuple[str, ...]:
        """The ``PlanAction`` names this verb can perform."""
        return tuple(form.action for form in self.forms if form.action)

    @property
    def versions(self) -> str:
        """Which VRO releases have this command (``VRO 13+``); empty when all of them do."""
        notes = {spec_of(action).versions_note for action in self.actions}
        return " / ".join(sorted(note for note in notes if note))

    @property
    def takes_plan(self) -> bool:
        return any(arg.ref is RefKind.PLAN and arg.name == "plan" for form in self.forms for arg in form.args)

    @property
    def all_options(self) -> tuple[OptionSpec, ...]:
        """The verb's own options plus the common ones (``--reason`` or ``--public``)."""
        common = (REASON_OPTION,) if self.kind is Kind.ACTION else ()
        if self.kind is not Kind.ACTION and self.verb not in _NO_PUBLIC:
            common = (PUBLIC_OPTION,)
        return (*self.options, *common)

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.all_options if o.name == name), None)

    @property
    def usage_lines(self) -> tuple[str, ...]:
        """``/vro failover <plan> [--restore-point TIME] [--chained] [--reason "..."]``, one per form."""
        option_text = " ".join(f"[{o.synopsis}]" for o in self.all_options)
        lines = []
        for form in self.forms:
            line = f"{COMMAND} {form.synopsis(self.verb)}"
            lines.append(f"{line} {option_text}" if option_text else line)
        return tuple(lines)

    @property
    def usage(self) -> str:
        return "  |  ".join(self.usage_lines)


REASON_OPTION: Final = OptionSpec(
    "reason", ValueType.STRING, "why: shown on the approval card and kept in the audit log", metavar='"..."'
)
PUBLIC_OPTION: Final = OptionSpec(
    "public", ValueType.FLAG, "post the answer in the channel instead of only to you"
)
_NO_PUBLIC: Final = frozenset({"watch", "unwatch"})

# ----------------------------------------------------------------------------------------------
# Choices
# ----------------------------------------------------------------------------------------------

CONTINUE_OPTIONS: Final = (
    Choice("ProceedToNextVm", "proceed to the next VM", ("next-vm", "skip-vm", "proceed-next-vm")),
    Choice(
        "ProceedToNextGroup", "proceed to the next group", ("next-group", "skip-group", "proceed-next-group")
    ),
    Choice("ProceedToNextStep", "proceed to the next step", ("next-step", "skip-step", "proceed-next-step")),
    Choice("RetryFailedStep", "retry the failed step", ("retry-step",)),
    Choice("RetryFailedVm", "retry the failed VM", ("retry-vm",)),
    Choice("RetryFailedGroup", "retry the failed group", ("retry-group",)),
)

PLAN_TYPES: Final = (
    Choice("Replica", "replica plan", ("replica",)),
    Choice("CdpReplica", "CDP replica plan", ("cdp-replica", "cdp")),
    Choice("Restore", "restore plan", ("restore",)),
    Choice("Storage", "storage plan", ("storage",)),
    Choice("Cloud", "cloud plan", ("cloud",)),
)

SCHEDULE_KEYWORDS: Final = ("at", "after")

# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------

_PLAN = ArgSpec(
    "plan", "a plan's name or id (quotes for spaces; a unique prefix is enough)", ref=RefKind.PLAN
)
_PLAN_ALONE = ArgSpec(
    "plan", "a plan's name or id (a unique prefix is enough)", ref=RefKind.PLAN, greedy=True
)
_LOCATION = OptionSpec(
    "location",
    ValueType.STRING,
    "recovery location by name or id (default: the plan's own)",
    metavar="LOCATION",
    param="restore_location_id",
    ref=RefKind.LOCATION,
)
_RESTORE_POINT = OptionSpec(
    "restore-point",
    ValueType.DATETIME,
    "use the restore point at or before this time (UTC unless an offset is given; default: latest)",
    metavar="TIME",
    param="restore_point_date",
    direction=TimeDirection.PAST,
)
_CHAINED = OptionSpec(
    "chained", ValueType.FLAG, "also run the plans chained after this one", param="execute_chained_plans"
)
_VM_OPTION = OptionSpec("vm", ValueType.STRING, "only the steps of this VM", metavar="VM", ref=RefKind.VM)
_GROUP_OPTION = OptionSpec(
    "group", ValueType.STRING, "only the steps of this group", metavar="GROUP", ref=RefKind.GROUP
)


def _vro_call(spec: ActionSpec) -> str:
    """``POST /Plans/{id}/Failover``; a call that changed shows each form with its release."""
    first, *later = spec.wires
    text = f"{first.method} {first.path}"
    for wire in later:
        changed = wire.method if wire.path == first.path else f"{wire.method} {wire.path}"
        text += f" ({changed} from {product_name(wire.since or '')})"
    return text


def _plan_action(
    action: PlanAction,
    summary: str,
    help_text: str,
    *,
    options: tuple[OptionSpec, ...] = (),
    extra_args: tuple[ArgSpec, ...] = (),
    examples: tuple[str, ...] = (),
) -> VerbSpec:
    """A verb that performs one action: its name, VRO call and confirm dialog come from the table."""
    row = spec_of(action)
    plan = _PLAN_ALONE if all(a.required and not a.greedy for a in extra_args) else _PLAN
    return VerbSpec(
        verb=row.verb,
        kind=Kind.ACTION,
        summary=summary,
        help=help_text,
        vro_call=_vro_call(row),
        forms=(Form(args=(plan, *extra_args), action=action.value),),
        options=options,
        policy_verb=row.verb,
        destructive=row.destructive,
        examples=examples or (f'{COMMAND} {row.verb} "SAP Tier1" --reason "INC-42"',),
    )


_TABLE: Final[tuple[VerbSpec, ...]] = (
    VerbSpec(
        "help",
        Kind.LOCAL,
        "list the commands, or explain one",
        "Without a command, lists every command. With one, shows its usage, options and an example.",
        "-",
        forms=(Form(args=(ArgSpec("command", "the command to explain", required=False),)),),
        examples=(f"{COMMAND} help", f"{COMMAND} help failover"),
    ),
    VerbSpec(
        "plans",
        Kind.QUERY,
        "list recovery plans, optionally filtered",
        "Lists plans with their type and state. Text filters on the name (a `*` is a wildcard); "
        "`--type` and `--state` narrow further.",
        "GET /Plans (filter, sort, paging)",
        forms=(Form(args=(ArgSpec("text", "part of the plan name", required=False, greedy=True),)),),
        options=(
            OptionSpec(
                "type", ValueType.CHOICE, "only plans of this type", metavar="TYPE", choices=PLAN_TYPES
            ),
            OptionSpec(
                "state", ValueType.STRING, "only plans in this state (e.g. Ready, Failover)", metavar="STATE"
            ),
        ),
        examples=(f"{COMMAND} plans", f"{COMMAND} plans SAP --type replica"),
    ),
    VerbSpec(
        "plan",
        Kind.QUERY,
        "show one plan: state, schedule, last results and what you can do next",
        "Shows the plan's type, state, scope, recovery location, schedule and the results of its last "
        "run, test and readiness check, with buttons for the actions its state allows.",
        "GET /Plans/{id}",
        forms=(Form(args=(_PLAN_ALONE,)),),
        examples=(f'{COMMAND} plan "SAP Tier1"',),
    ),
    VerbSpec(
        "groups",
        Kind.QUERY,
        "list a plan's groups",
        "Lists the plan's inventory and virtual groups in recovery order.",
        "GET /Plans/{id}/Groups",
        forms=(Form(args=(_PLAN_ALONE,)),),
        examples=(f'{COMMAND} groups "SAP Tier1"',),
    ),
    VerbSpec(
        "vms",
        Kind.QUERY,
        "list a plan's VMs, optionally of one group",
        "Lists the VMs of every inventory group of the plan, or of the group you name.",
        "GET /Plans/{id}/Groups, GET /Plans/{id}/Groups/{groupId}/Vms",
        forms=(
            Form(
                args=(
                    _PLAN,
                    ArgSpec("group", "a group's name or id", required=False, greedy=True, ref=RefKind.GROUP),
                )
            ),
        ),
        examples=(f'{COMMAND} vms "SAP Tier1"', f'{COMMAND} vms "SAP Tier1" "App servers"'),
    ),
    VerbSpec(
        "steps",
        Kind.QUERY,
        "list a plan's steps, of one VM or one group",
        "Lists the steps of a VM (`--vm`) or of a virtual group (`--group`); without either, the steps "
        "of every group.",
        "GET /Plans/{id}/Vms/{vmId}/Steps, GET /Plans/{id}/Groups/{groupId}/Steps",
        forms=(Form(args=(_PLAN_ALONE,)),),
        options=(_VM_OPTION, _GROUP_OPTION),
        exclusive=(frozenset({"vm", "group"}),),
        examples=(f'{COMMAND} steps "SAP Tier1" --vm sap-app01',),
    ),
    VerbSpec(
        "params",
        Kind.QUERY,
        "show the parameters of one step",
        "Shows the parameters configured for a step. When several VMs have a step of that name, add "
        "`--vm` or `--group`.",
        "GET /Plans/{id}/Steps/{stepId}/Parameters",
        forms=(Form(args=(_PLAN, ArgSpec("step", "a step's name or id", greedy=True, ref=RefKind.STEP))),),
        options=(
            OptionSpec("vm", ValueType.STRING, "the VM the step belongs to", metavar="VM", ref=RefKind.VM),
            OptionSpec(
                "group", ValueType.STRING, "the group the step belongs to", metavar="GROUP", ref=RefKind.GROUP
            ),
        ),
        exclusive=(frozenset({"vm", "group"}),),
        examples=(f'{COMMAND} params "SAP Tier1" "Verify VM Heartbeat" --vm sap-app01',),
    ),
    VerbSpec(
        "status",
        Kind.QUERY,
        "show a plan's live progress: groups, VMs and steps",
        "Shows the plan's runtime state and progress, with its groups, VMs and steps and their results.",
        "GET /RuntimeDetails/Plans/{id} (+ groups, VMs, steps as needed)",
        forms=(Form(args=(_PLAN_ALONE,)),),
        examples=(f'{COMMAND} status "SAP Tier1"',),
    ),
    VerbSpec(
        "locations",
        Kind.QUERY,
        "list recovery locations",
        "Lists the recovery locations plans can fail over or restore to.",
        "GET /RecoveryLocations",
        examples=(f"{COMMAND} locations",),
    ),
    VerbSpec(
        "scopes",
        Kind.QUERY,
        "list scopes",
        "Lists the Orchestrator scopes.",
        "GET /Scopes",
        examples=(f"{COMMAND} scopes",),
    ),
    VerbSpec(
        "license",
        Kind.QUERY,
        "show license usage",
        "Shows how many instances the Orchestrator server uses.",
        "GET /License/Usage/Server",
        examples=(f"{COMMAND} license",),
    ),
    VerbSpec(
        "watch",
        Kind.LOCAL,
        "follow a plan in this channel without running anything",
        "Posts a status card for the plan in the channel and narrates its progress in the card's thread.",
        "GET /RuntimeDetails/Plans/{id} (polled)",
        forms=(Form(args=(_PLAN_ALONE,)),),
        examples=(f'{COMMAND} watch "SAP Tier1"',),
    ),
    VerbSpec(
        "unwatch",
        Kind.LOCAL,
        "stop following a plan",
        "Stops the watch on the plan in this channel.",
        "-",
        forms=(Form(args=(_PLAN_ALONE,)),),
        examples=(f'{COMMAND} unwatch "SAP Tier1"',),
    ),
    VerbSpec(
        "approvals",
        Kind.LOCAL,
        "list requests waiting for approval",
        "Lists the pending requests with who asked, what, and the approvals still needed.",
        "- (the bot's own store)",
        examples=(f"{COMMAND} approvals",),
    ),
    VerbSpec(
        "audit",
        Kind.LOCAL,
        "show the audit log, optionally of one plan",
        "Shows the latest requests, decisions, executions and refusals, newest first.",
        "- (the bot's own store)",
        forms=(
            Form(
                args=(ArgSpec("plan", "a plan's name or id", required=False, greedy=True, ref=RefKind.PLAN),)
            ),
        ),
        examples=(f"{COMMAND} audit", f'{COMMAND} audit "SAP Tier1"'),
    ),
    _plan_action(
        PlanAction("Enable"),
        "enable a plan",
        "Enables the plan so that it can run.",
    ),
    _plan_action(
        PlanAction("Disable"),
        "disable a plan",
        "Disables the plan; it cannot run until enabled again.",
    ),
    _plan_action(
        PlanAction("Halt"),
        "halt a running plan",
        "Stops the running plan after the current step; `--full-stop` also stops the plans chained after it.",
        options=(
            OptionSpec(
                "full-stop", ValueType.FLAG, "also stop the plans chained after this one", param="full_stop"
            ),
        ),
    ),
    _plan_action(
        PlanAction("Failover"),
        "fail a replica or storage plan over to the DR site",
        "Starts the failover of the plan's VMs to their replicas, from the latest restore point or the one "
        "at `--restore-point`.",
        options=(_RESTORE_POINT, _CHAINED),
        examples=(f'{COMMAND} failover "SAP Tier1" --reason "INC-42 site A lost"',),
    ),
    _plan_action(
        PlanAction("PermanentFailover"),
        "make a failover permanent",
        "Turns the replicas into the production VMs; the original VMs stop being replicated.",
    ),
    _plan_action(
        PlanAction("FailbackToProduction"),
        "fail back to the production site",
        "Fails the plan back to the source VMs, or to the recovery location given with `--location`.",
        options=(
            _LOCATION,
            OptionSpec(
                "restore-vm-tags",
                ValueType.FLAG,
                "copy the original VMs' tags onto the restored VMs",
                param="failback_restore_vm_tags",
            ),
        ),
    ),
    _plan_action(
        PlanAction("PrepareToFailback"),
        "prepare a failed-over plan for failback",
        "Synchronizes the production VMs with the replicas so that a failback can switch over.",
    ),
    _plan_action(
        PlanAction("SwitchoverToProduction"),
        "switch over to production after a prepared failback",
        "Completes a prepared failback by switching the workload back to the production VMs.",
    ),
    _plan_action(
        PlanAction("CommitFailback"),
        "commit a failback",
        "Makes the failback final; the plan stays in use until it is reset.",
    ),
    _plan_action(
        PlanAction("Undo"),
        "undo a failover, failback or halted run",
        "Rolls the plan back: powers off replicas after a failover, or switches back after a failback.",
    ),
    _plan_action(
        PlanAction("ResetState"),
        "reset a plan to its default state",
        "Puts the plan back to its default state (it is left disabled); `--check` runs a readiness check after.",
        options=(
            OptionSpec(
                "check",
                ValueType.FLAG,
                "run a readiness check after the reset",
                param="execute_readiness_check",
            ),
        ),
    ),
    _plan_action(
        PlanAction("ResetChangeLog"),
        "clear a plan's change log history",
        "Deletes the plan's change log history; `--report` generates the plan definition report after.",
        options=(
            OptionSpec(
                "report", ValueType.FLAG, "generate the plan definition report", param="generate_dr_report"
            ),
        ),
    ),
    _plan_action(
        PlanAction("Restore"),
        "run a restore plan",
        "Restores the plan's machines from backup, to the plan's location or the one given with `--location`.",
        options=(_LOCATION, _RESTORE_POINT, _CHAINED),
    ),
    _plan_action(
        PlanAction("Continue"),
        "continue a halted plan",
        "Resumes a halted plan: "
        + "; ".join(f"`{c.aliases[0]}` ({c.value}) to {c.label}" for c in CONTINUE_OPTIONS)
        + ".",
        extra_args=(
            ArgSpec(
                "option",
                "how to resume: " + ", ".join(c.aliases[0] for c in CONTINUE_OPTIONS),
                type=ValueType.CHOICE,
                param="option",
                choices=CONTINUE_OPTIONS,
            ),
        ),
        examples=(f'{COMMAND} continue "SAP Tier1" next-vm --reason "sap-db02 is gone for good"',),
    ),
    _plan_action(
        PlanAction("ReadinessCheck"),
        "run a readiness check",
        "Checks that the plan can run: replicas, restore points, locations, credentials.",
        options=(
            OptionSpec(
                "report", ValueType.FLAG, "generate the readiness check report", param="generate_report"
            ),
        ),
    ),
    _plan_action(
        PlanAction.MALWARE_SCAN,
        "scan a restore plan's restore points for malware",
        "Runs VRO's malware scan for the restore plan (VRO 13 and later).",
        examples=(f'{COMMAND} scan "Ontario Restore" --reason "INC-42 ransomware suspected"',),
    ),
    VerbSpec(
        "schedule",
        Kind.ACTION,
        "schedule a plan at a time, or after another plan",
        "Schedules the plan to run at a time (UTC unless an offset is given) or right after another plan.",
        f"{_vro_call(spec_of(PlanAction.SCHEDULE_AT))}, {_vro_call(spec_of(PlanAction.SCHEDULE_AFTER))}",
        forms=(
            Form(
                args=(
                    _PLAN_ALONE,
                    ArgSpec(
                        "time",
                        "when: 2026-11-27 14:00, 14:00, tomorrow 09:30 (UTC unless an offset is given)",
                        type=ValueType.DATETIME,
                        greedy=True,
                        param="start_time",
                        direction=TimeDirection.FUTURE,
                    ),
                ),
                action=PlanAction.SCHEDULE_AT.value,
                keyword="at",
            ),
            Form(
                args=(
                    _PLAN_ALONE,
                    ArgSpec(
                        "previous",
                        "the plan to run after",
                        greedy=True,
                        ref=RefKind.PLAN,
                        param="previous_plan_id",
                        metavar="other-plan",
                    ),
                ),
                action=PlanAction.SCHEDULE_AFTER.value,
                keyword="after",
            ),
        ),
        policy_verb=spec_of(PlanAction.SCHEDULE_AT).verb,
        examples=(
            f'{COMMAND} schedule "SAP Tier1" at 2026-11-27 14:00 --reason "DR test"',
            f'{COMMAND} schedule "SAP Tier2" after "SAP Tier1"',
        ),
    ),
    _plan_action(
        PlanAction("DeleteSchedule"),
        "remove a plan's schedule",
        "Deletes the plan's schedule.",
    ),
    _plan_action(
        PlanAction("Clone"),
        "clone a plan",
        "Creates a copy of the plan, named as you say or by VRO.",
        extra_args=(ArgSpec("name", "the new plan's name", required=False, greedy=True, param="name"),),
        examples=(f'{COMMAND} clone "SAP Tier1" "SAP Tier1 copy"',),
    ),
)

VERBS: Final[Mapping[str, VerbSpec]] = MappingProxyType({spec.verb: spec for spec in _TABLE})
"""Every verb of the ``/vro`` command, in help order."""

PLAN_ACTIONS: Final[tuple[str, ...]] = tuple(action.value for action in PlanAction)
"""The values of ``bot.vro.actions.PlanAction``, in VRO's order."""

VERB_FOR_ACTION: Final[Mapping[str, VerbSpec]] = MappingProxyType(
    {action: spec for spec in _TABLE for action in spec.actions}
)
"""The verb that performs each ``PlanAction`` name."""

GENERAL_USAGE: Final = f"{COMMAND} <command> [arguments] [--options]"


def _squash(text: str) -> str:
    """Key for forgiving comparisons: case, dashes, underscores and spaces do not matter."""
    return re.sub(r"[\s_\-‐‑‒–—]+", "", text).casefold()


_VERB_LOOKUP: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{
            _squash(action): spec.verb for spec in _TABLE for action in spec.actions if len(spec.actions) == 1
        },
        **{_squash(spec.verb): spec.verb for spec in _TABLE},
        "?": "help",
    }
)


def lookup_verb(word: str) -> VerbSpec | None:
    """The verb spelled ``word`` (any case, dashes optional, VRO's operation names too)."""
    verb = _VERB_LOOKUP.get(_squash(word))
    return VERBS[verb] if verb else None


def match_choice(text: str, choices: Sequence[Choice]) -> Choice | None:
    """The choice ``text`` names, comparing case- and dash-insensitively against every spelling."""
    key = _squash(text)
    for choice in choices:
        if any(_squash(spelling) == key for spelling in choice.spellings()):
            return choice
    return None


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A name the user typed that still has to be resolved against VRO."""

    kind: RefKind
    text: str
    param: str | None = None  # the perform param that receives the resolved id


@dataclass(frozen=True)
class ParsedCommand:
    """A well-formed command. Names are not resolved yet (that needs VRO).

    ``params`` holds the ``bot.vro.actions.perform`` params the text fully determines (flags,
    ISO times, the continue option, the clone name); ``refs`` holds the names still to resolve,
    keyed by argument/option name (``location``, ``previous``, ``group``, ``vm``, ``step``), each
    saying which perform param (if any) receives the resolved id. :meth:`perform_params` merges
    both once the ids are known.
    """

    verb: str
    source: str = ""
    plan: str | None = None
    action: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str | bool] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    refs: Mapping[str, Ref] = field(default_factory=dict)
    reason: str | None = None
    public: bool = False

    @property
    def spec(self) -> VerbSpec:
        return VERBS[self.verb]

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def destructive(self) -> bool:
        return self.spec.destructive

    @property
    def help_topic(self) -> str | None:
        """For ``help``: the verb to explain, or None for the list."""
        return self.args.get("command") if self.verb == "help" else None

    def perform_params(self, resolved_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The params for ``perform``: ``params`` plus the ids of the refs that feed a param.

        ``resolved_ids`` maps ref names (keys of ``refs``) to ids. A ref feeding a param that is
        missing from it raises ``KeyError`` naming the ref: resolve before performing.
        """
        merged = dict(self.params)
        for name, ref in self.refs.items():
            if ref.param is None:
                continue
            if resolved_ids is None or name not in resolved_ids:
                raise KeyError(f"the {ref.kind} “{ref.text}” ({name}) has not been resolved")
            merged[ref.param] = resolved_ids[name]
        return merged


@dataclass(frozen=True)
class ParseError:
    """What was wrong with a command, written for the person who typed it."""

    message: str
    usage: tuple[str, ...] = (GENERAL_USAGE,)
    verb: str | None = None
    suggestions: tuple[str, ...] = ()

    def render(self) -> str:
        """The full reply: the problem, then the usage line(s)."""
        lines = [self.message, *(f"Usage: `{line}`" for line in self.usage)]
        if self.verb and self.verb != "help":
            lines.append(f"More: `{COMMAND} help {self.verb}`")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Times
# ----------------------------------------------------------------------------------------------


class TimeParseError(ValueError):
    """A time that could not be read, with a message for the user."""


_ZONE = r"(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
_CLOCK_RE = re.compile(
    r"^(?:(?P<day>today|tomorrow|yesterday)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*"
    + _ZONE
    + r"?$",
    re.IGNORECASE,
)
_WORD_ZONE_RE = re.compile(r"\s*\b(UTC|GMT)$", re.IGNORECASE)
_DAY_OFFSETS: Final = {"today": 0, "tomorrow": 1, "yesterday": -1}
_TIME_EXAMPLES: Final = "2026-11-27 14:00, 2026-11-27T14:00+02:00, 14:00 or tomorrow 09:30"
_MIN_YEAR, _MAX_YEAR = 1970, 2200


def _zone(text: str | None) -> timezone:
    if text is None or text.upper() in {"Z", "UTC", "GMT"}:
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise TimeParseError(f"“{text}” is not a UTC offset; write it like +02:00.")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_time(moment: datetime) -> str:
    """``2026-11-27 14:00 UTC``: how the bot shows a time back to people (naive times are UTC)."""
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S UTC" if utc.second else "%Y-%m-%d %H:%M UTC")


def parse_time(text: str, *, now: datetime, direction: TimeDirection | None = None) -> datetime:
    """Read a time as documented in the module docstring; the result is aware and in UTC.

    ``direction`` decides what a bare clock time means (the most recent one for PAST, the next
    one for FUTURE) and rejects times on the wrong side of ``now``. Raises ``TimeParseError``.
    """
    cleaned = " ".join(text.split())
    if not cleaned:
        raise TimeParseError(f"The time is empty. Try {_TIME_EXAMPLES}.")
    match = _CLOCK_RE.match(cleaned)
    try:
        moment = _clock_time(match, now=now, direction=direction) if match else _calendar_time(cleaned)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, TimeParseError):
            raise
        raise TimeParseError(
            f"I can't read “{cleaned}” as a time. Try {_TIME_EXAMPLES} (UTC unless you add an offset)."
        ) from None
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        raise TimeParseError(f"“{cleaned}” is too far from today to be meant.")
    moment = moment.astimezone(UTC)
    if direction is TimeDirection.PAST and moment > now + timedelta(minutes=1):
        raise TimeParseError(
            f"{format_time(moment)} is in the future; a restore point has to be in the past (it is {format_time(now)})."
        )
    if direction is TimeDirection.FUTURE and moment <= now:
        raise TimeParseError(
            f"{format_time(moment)} has already passed (it is {format_time(now)}); pick a later time."
        )
    return moment


def _clock_time(match: re.Match[str], *, now: datetime, direction: TimeDirection | None) -> datetime:
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise TimeParseError(f"“{match.string}” is not a time of day; use 24-hour HH:MM.")
    zone = _zone(match["zone"])
    local_now = now.astimezone(zone)
    moment = local_now.replace(hour=hour, minute=minute, second=second, microsecond=0)
    if match["day"]:
        return moment + timedelta(days=_DAY_OFFSETS[match["day"].lower()])
    if direction is TimeDirection.PAST and moment > now:
        moment -= timedelta(days=1)
    elif direction is TimeDirection.FUTURE and moment <= now:
        moment += timedelta(days=1)
    return moment


def _calendar_time(text: str) -> datetime:
    text = _WORD_ZONE_RE.sub("+00:00", text).replace(" +", "+").replace(" -", "-")
    slashed = re.match(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$", text)
    if slashed:  # VRO's own format: 2021/11/12T12:00:00
        year, month, day, rest = slashed.groups()
        text = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _looks_like_clock(text: str) -> bool:
    return re.match(r"^\d{1,2}:\d{2}(:\d{2})?(Z|[+-]\d{2}(:?\d{2})?)?$", text, re.IGNORECASE) is not None


# ----------------------------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------------------------

_DOUBLE_QUOTES: Final = '"“”„‟'
_SINGLE_QUOTES: Final = "'‘’‚‛"
_QUOTES: Final = _DOUBLE_QUOTES + _SINGLE_QUOTES
_DASHES: Final = "—–−"  # em dash, en dash, minus: what autocorrect makes of "--"


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool  # some part of it was quoted
    starts_quoted: bool  # it began with a quote: never an option, always a value


class _SyntaxProblem(Exception):
    """Internal: a problem found while reading, turned into a ParseError by ``parse``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _unescape_slack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _tokenize(text: str) -> list[_Token]:
    """Split like a shell would, but forgiving: see the module docstring."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        parts: list[str] = []
        quoted = starts_quoted = False
        # a quote opens a quoted part at the start of a word, or right after "--option="
        may_open = True
        looks_like_option = text[i] in "-" + _DASHES
        while i < n and not text[i].isspace():
            char = text[i]
            if char in _QUOTES and may_open:
                closers = _DOUBLE_QUOTES if char in _DOUBLE_QUOTES else _SINGLE_QUOTES
                i, chunk = _read_quoted(text, i + 1, closers)
                starts_quoted = starts_quoted or not parts
                parts.append(chunk)
                quoted = True
                may_open = False
                continue
            parts.append(char)
            may_open = looks_like_option and char == "=" and not quoted
            i += 1
        tokens.append(_Token("".join(parts), quoted, starts_quoted))
    return tokens


def _read_quoted(text: str, start: int, closers: str) -> tuple[int, str]:
    chunk: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and (text[i + 1] in _QUOTES or text[i + 1] == "\\"):
            chunk.append(text[i + 1])
            i += 2
            continue
        if char in closers:
            return i + 1, "".join(chunk)
        chunk.append(char)
        i += 1
    opened = "".join(chunk).strip()
    shown = opened if len(opened) <= 40 else opened[:40] + "…"
    where = f"before “{shown}”" if shown else "at the end"
    raise _SyntaxProblem(f"The quote {where} is never closed. Close it, or leave the quotes out.")


def _option_name(token: _Token) -> str | None:
    """``reason`` for ``--reason``, ``—reason`` or ``-reason``; None when not an option."""
    if token.starts_quoted:
        return None
    text = token.text
    if text.startswith("--") and len(text) > 2:
        return text[2:]
    if text[:1] in _DASHES and len(text.lstrip(_DASHES + "-")) > 0:
        return text.lstrip(_DASHES + "-")
    if text.startswith("-") and len(text) > 1 and text[1].isalpha():
        return text[1:]
    return None


# ----------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------


def parse(text: str, *, now: datetime) -> ParsedCommand | ParseError:
    """Parse the text after ``/vro``. Never raises; every error names the problem and the usage.

    Blank text parses as ``help`` (the Bolt listener opens the modal for blank text instead).
    ``now`` anchors relative times such as ``14:00``.
    """
    try:
        return _parse(text, now=now)
    except _SyntaxProblem as problem:
        words = text.split(maxsplit=1)
        spec = lookup_verb(words[0]) if words else None
        return _error(spec, problem.message) if spec else ParseError(problem.message)


def _parse(text: str, *, now: datetime) -> ParsedCommand | ParseError:
    source = text
    if len(text) > MAX_TEXT_LENGTH:
        return ParseError(
            f"That command is {len(text):,} characters long; the most I read is {MAX_TEXT_LENGTH:,}."
        )
    tokens = _tokenize(_unescape_slack(text))
    if not tokens:
        return ParsedCommand(verb="help", source=source)
    head, rest = tokens[0], tokens[1:]
    spec = lookup_verb(head.text)
    if spec is None:
        return _unknown_verb(head.text)
    return _parse_verb(spec, rest, source=source, now=now)


def _unknown_verb(word: str) -> ParseError:
    shown = word if len(word) <= 40 else word[:40] + "…"
    close = difflib.get_close_matches(word.lower(), list(VERBS), n=3, cutoff=0.6)
    if close:
        listed = " or ".join(f"`{verb}`" for verb in close)
        message = (
            f"I don't know the command “{shown}”. Did you mean {listed}? `{COMMAND} help` lists them all."
        )
    else:
        message = f"I don't know the command “{shown}”. `{COMMAND} help` lists the commands."
    return ParseError(message, suggestions=tuple(close))


def _error(spec: VerbSpec, message: str) -> ParseError:
    return ParseError(message, usage=spec.usage_lines, verb=spec.verb)


def _parse_verb(
    spec: VerbSpec, tokens: list[_Token], *, source: str, now: datetime
) -> ParsedCommand | ParseError:
    positionals: list[_Token] = []
    raw_options: dict[str, str | bool] = {}
    index = 0
    options_ended = False
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name = None if options_ended else _option_name(token)
        if token.text == "--" and not token.quoted and not options_ended:
            options_ended = True
            continue
        if name is None:
            positionals.append(token)
            continue
        name, has_value, inline_value = name.partition("=")
        key = name.lower().replace("_", "-")
        if key in {"help", "h"}:
            return ParsedCommand(verb="help", source=source, args={"command": spec.verb})
        option = spec.option(key)
        if option is None:
            return _error(spec, _unknown_option_message(spec, name))
        if key in raw_options:
            return _error(spec, f"`{option.flag}` is given twice; give it once.")
        if option.type is ValueType.FLAG:
            flag = _flag_value(inline_value if has_value else None)
            if flag is None:
                return _error(spec, f"`{option.flag}` is a switch: give it alone, or as `{option.flag}=no`.")
            raw_options[key] = flag
            continue
        if has_value:
            value = inline_value
        elif index < len(tokens) and _option_name(tokens[index]) is None:
            value = tokens[index].text
            index += 1
        else:
            return _error(spec, f"`{option.flag}` needs a value, e.g. `{option.synopsis}`.")
        # a date followed by a clock time ("2026-11-27 14:00") is one value
        if (
            option.type is ValueType.DATETIME
            and index < len(tokens)
            and not tokens[index].quoted
            and _looks_like_clock(tokens[index].text)
            and not _looks_like_clock(value)
        ):
            value = f"{value} {tokens[index].text}"
            index += 1
        raw_options[key] = value

    for group in spec.exclusive:
        given = sorted(group & raw_options.keys())
        if len(given) > 1:
            return _error(spec, "Use only one of " + " or ".join(f"`--{n}`" for n in given) + ".")

    form_or_error = _choose_form(spec, positionals)
    if isinstance(form_or_error, ParseError):
        return form_or_error
    form, values = form_or_error
    return _build(spec, form, values, raw_options, source=source, now=now)


def _unknown_option_message(spec: VerbSpec, name: str) -> str:
    shown = name if len(name) <= 30 else name[:30] + "…"
    known = [o.name for o in spec.all_options]
    if not known:
        return f"`{spec.verb}` takes no options, and “--{shown}” is not one."
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    hint = f" Did you mean `--{close[0]}`?" if close else ""
    return (
        f"`{spec.verb}` has no option “--{shown}”.{hint} Its options: "
        + ", ".join(f"`--{k}`" for k in known)
        + "."
    )


_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def _flag_value(value: str | None) -> bool | None:
    """True for ``--flag`` or ``--flag=yes``, False for ``--flag=no``, None for anything else."""
    if value is None or value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    return None


def _choose_form(spec: VerbSpec, positionals: list[_Token]) -> tuple[Form, dict[str, str]] | ParseError:
    keyword_forms = [form for form in spec.forms if form.keyword]
    if not keyword_forms:
        values = _assign(spec, spec.forms[0].args, positionals)
        return values if isinstance(values, ParseError) else (spec.forms[0], values)
    for position, token in enumerate(positionals):
        if position == 0 or token.quoted:
            continue
        form = next((f for f in keyword_forms if f.keyword == token.text.lower()), None)
        if form is None:
            continue
        left = _assign(spec, form.args[:1], positionals[:position])
        if isinstance(left, ParseError):
            return left
        right = _assign(spec, form.args[1:], positionals[position + 1 :])
        if isinstance(right, ParseError):
            return right
        return form, {**left, **right}
    if not positionals:
        return _error(
            spec,
            f"`{spec.verb}` needs a plan, then "
            + " or ".join(f"`{f.keyword} …`" for f in keyword_forms)
            + ".",
        )
    alternatives = " or ".join(f"`{f.keyword} <{f.args[-1].name}>`" for f in keyword_forms)
    return _error(spec, f"Say when after the plan: {alternatives}.")


def _assign(spec: VerbSpec, args: Sequence[ArgSpec], tokens: Sequence[_Token]) -> dict[str, str] | ParseError:
    """Give each argument its words; a greedy argument takes whatever the others leave."""
    values: dict[str, str] = {}
    greedy = next((i for i, arg in enumerate(args) if arg.greedy), None)
    if greedy is None:
        for arg, token in zip(args, tokens, strict=False):
            values[arg.name] = token.text
        extra = tokens[len(args) :]
        if extra:
            return _too_many(spec, args, extra)
    else:
        before, after = args[:greedy], args[greedy + 1 :]
        take_after = min(len(after), max(0, len(tokens) - len(before) - 1))
        for arg, token in zip(before, tokens, strict=False):
            values[arg.name] = token.text
        middle = tokens[len(before) : len(tokens) - take_after]
        if middle:
            values[args[greedy].name] = " ".join(t.text for t in middle)
        for arg, token in zip(after, tokens[len(tokens) - take_after :], strict=False):
            values[arg.name] = token.text
    for arg in args:
        if arg.required and not values.get(arg.name, "").strip():
            return _error(spec, _missing_message(spec, arg))
        if arg.name in values and not values[arg.name].strip():
            del values[arg.name]
    return values


def _too_many(spec: VerbSpec, args: Sequence[ArgSpec], extra: Sequence[_Token]) -> ParseError:
    shown = " ".join(t.text for t in extra)
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    if not args:
        return _error(spec, f"`{spec.verb}` takes no arguments, but got “{shown}”.")
    return _error(spec, f"I don't know what to do with “{shown}”. Put quotes around names with spaces.")


def _missing_message(spec: VerbSpec, arg: ArgSpec) -> str:
    if arg.ref is RefKind.PLAN and arg.name == "plan":
        return f"Which plan? `{spec.verb}` needs a plan name or id."
    return f"`{spec.verb}` needs {arg.placeholder}: {arg.help}."


def _build(
    spec: VerbSpec,
    form: Form,
    values: Mapping[str, str],
    raw_options: Mapping[str, str | bool],
    *,
    source: str,
    now: datetime,
) -> ParsedCommand | ParseError:
    params: dict[str, Any] = {}
    refs: dict[str, Ref] = {}
    args: dict[str, str] = {}
    options: dict[str, str | bool] = {}
    plan: str | None = None

    for arg in form.args:
        if arg.name not in values:
            continue
        value = values[arg.name].strip()
        if arg.name == "plan":
            plan = value
            continue
        converted = _convert(spec, arg.name, arg.type, arg.choices, arg.direction, value, now=now)
        if isinstance(converted, ParseError):
            return converted
        args[arg.name] = converted
        if arg.ref is not None:
            refs[arg.name] = Ref(arg.ref, converted, arg.param)
        elif arg.param:
            params[arg.param] = converted

    if spec.verb == "help" and "command" in args:
        topic = lookup_verb(args["command"])
        if topic is None:
            return _unknown_verb(args["command"])
        args["command"] = topic.verb

    reason: str | None = None
    public = False
    for name, raw in raw_options.items():
        option = spec.option(name)
        assert option is not None  # checked while reading
        if option is REASON_OPTION:
            reason = " ".join(str(raw).split())
            if not reason:
                return _error(spec, 'The reason is empty. Say why, e.g. `--reason "INC-42 site A lost"`.')
            if len(reason) > MAX_REASON_LENGTH:
                return _error(
                    spec, f"The reason is {len(reason)} characters long; keep it under {MAX_REASON_LENGTH}."
                )
            continue
        if option is PUBLIC_OPTION:
            public = bool(raw)
            continue
        if isinstance(raw, bool):
            options[name] = raw
            if option.param and raw:
                params[option.param] = True
            continue
        converted = _convert(
            spec, option.flag, option.type, option.choices, option.direction, raw.strip(), now=now
        )
        if isinstance(converted, ParseError):
            return converted
        options[name] = converted
        if option.ref is not None:
            refs[name] = Ref(option.ref, converted, option.param)
        elif option.param:
            params[option.param] = converted

    return ParsedCommand(
        verb=spec.verb,
        source=source,
        plan=plan,
        action=form.action,
        args=args,
        options=options,
        params=params,
        refs=refs,
        reason=reason,
        public=public,
    )


def _convert(
    spec: VerbSpec,
    label: str,
    kind: ValueType,
    choices: Sequence[Choice],
    direction: TimeDirection | None,
    value: str,
    *,
    now: datetime,
) -> str | ParseError:
    """Check and normalize one value: ISO string for times, canonical value for choices."""
    if not value:
        return _error(spec, f"`{label}` is empty.")
    if kind is ValueType.DATETIME:
        try:
            return parse_time(value, now=now, direction=direction).isoformat()
        except TimeParseError as exc:
            return _error(spec, str(exc))
    if kind is ValueType.CHOICE:
        choice = match_choice(value, choices)
        if choice is None:
            shown = value if len(value) <= 40 else value[:40] + "…"
            accepted = ", ".join(f"`{c.aliases[0] if c.aliases else c.value}`" for c in choices)
            return _error(spec, f"“{shown}” is not a valid {label.lstrip('-')}. Use one of: {accepted}.")
        return choice.value
    return value
