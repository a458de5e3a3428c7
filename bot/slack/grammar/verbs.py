"""The verb table: one entry per ``/vro`` verb, the single source of the parser, the help texts,
the usage lines and the README command reference (a declarative table, long on purpose)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from bot.slack.grammar.spec import (
    COMMAND,
    ArgSpec,
    Choice,
    Form,
    Kind,
    OptionSpec,
    RefKind,
    TimeDirection,
    ValueType,
    VerbSpec,
)
from bot.vro.operations import ActionSpec, PlanAction, product_name, spec_of

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
