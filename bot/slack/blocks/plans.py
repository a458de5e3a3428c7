"""Answers about plans and their contents: the list, one plan, groups, VMs, steps, parameters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from bot.slack.blocks.kit import (
    FALLBACK_TEXT_LIMIT,
    Block,
    Message,
    actions,
    button,
    clip,
    context,
    cut_notice,
    described,
    esc,
    header,
    last_run_note,
    pack_sections,
    page_of,
    paged_list,
    plan_action_id,
    plan_emoji,
    plan_state_label,
    plan_type_label,
    plural,
    result_emoji,
    section,
    verb_title,
    when,
)
from bot.slack.grammar import PLAN_ACTIONS, VERB_FOR_ACTION, VERBS
from bot.vro import plan_states
from bot.vro.models import Plan, PlanGroup, PlanStep, PlanVm, ScheduleInfo, StepParameter

PLANS_PAGE_SIZE: Final = 25
LINES_PAGE_SIZE: Final = 40
MAX_PARAMETERS: Final = 40
MAX_PARAMETER_VALUE: Final = 500

# Buttons under a plan that read rather than act (the listener runs `/vro <verb> <plan id>`).
PLAN_VIEW_VERBS: Final = ("status", "groups", "vms", "watch")


def _plan_line(plan: Plan) -> str:
    state = plan_state_label(plan.state, plan.stateName)
    parts = [plan_type_label(plan.planType), state]
    if plan.planMode and plan.planMode != "Enabled":
        parts.append(plan_states.mode_display_name(plan.planMode))
    if plan.schedule and plan.schedule.type:
        parts.append(":calendar: scheduled")
    emoji = plan_emoji(plan.state)
    return f"{emoji} *{esc(plan.name)}* — {esc(' · '.join(parts))}{last_run_note(plan.currentRunResult)}"


def plans_message(
    plans: Sequence[Plan],
    *,
    page: int = 0,
    command: str | None = "plans",
    filters: str | None = None,
) -> Message:
    """``/vro plans``: one line per plan, paginated (``command`` re-runs for Prev / Next)."""
    what = f"Plans matching {filters}" if filters else "Plans"
    if not plans:
        text = f"No plans match {filters}." if filters else "VRO has no plans I can see."
        return Message(text, [section(f":mag: {esc(text)}")])
    paged = page_of(len(plans), page, PLANS_PAGE_SIZE)
    return paged_list(
        what,
        (_plan_line(p) for p in plans[paged.start : paged.end]),
        paged,
        "plan",
        command=command,
        heading=f"*{esc(what)}* ({plural(len(plans), 'plan')})",
        text=f"{what}: {len(plans)}",
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def schedule_text(schedule: ScheduleInfo | None) -> str:
    """``at 2026-11-27 14:00 UTC`` / ``after SAP Tier1`` / ``none``."""
    if schedule is None or not schedule.type:
        return "none"
    if schedule.startTime is not None and schedule.type != "AfterPlan":
        return f"at {when(schedule.startTime)}"
    if schedule.previousPlanName or schedule.previousPlanId:
        return f"after {esc(schedule.previousPlanName or schedule.previousPlanId)}"
    return esc(schedule.type)


def _result_field(label: str, result: str | None, at: Any) -> str:
    if not result and at is None:
        return f"*{label}*\nnever"
    return f"*{label}*\n{result_emoji(result)} {esc(result or 'no result')} · {when(at)}"


def next_actions(plan: Plan, allowed: frozenset[str]) -> list[str]:
    """The verbs worth a button: what the state allows, minus clutter (clone, an absent schedule)."""
    verbs: list[str] = []
    for action in PLAN_ACTIONS:
        if action not in allowed or action == "Clone":
            continue
        if action == "DeleteSchedule" and not (plan.schedule and plan.schedule.type):
            continue
        verb = VERB_FOR_ACTION[action].verb
        if verb not in verbs:
            verbs.append(verb)
    return verbs


def plan_detail_message(plan: Plan, *, allowed: frozenset[str] | None = None) -> Message:
    """``/vro plan``: state, type, scope, location, schedule, last results, and next-action buttons.

    ``allowed`` defaults to what ``bot.vro.plan_states`` allows from the plan's state and mode.
    Action buttons have action id ``vro_action:<verb>`` and the plan id as value; the listener
    opens the action form for them (a reason may be needed), and runs the query for view buttons.
    """
    if allowed is None:
        allowed = plan_states.allowed_actions(plan.planType or "", plan.state or "", plan.planMode or "")
    state = plan_state_label(plan.state, plan.stateName)
    emoji = plan_emoji(plan.state)
    fields = [
        f"*Type*\n{esc(_capital(plan_type_label(plan.planType)))}",
        f"*State*\n{emoji} {esc(state)}",
        f"*Mode*\n{esc(plan_states.mode_display_name(plan.planMode)) if plan.planMode else 'unknown'}",
        f"*Scope*\n{esc(plan.siteScopeName or 'unknown')}",
        f"*Recovery location*\n{esc(plan.recoveryLocationName or 'the plan default')}",
        f"*Schedule*\n{schedule_text(plan.schedule)}",
        _result_field("Last run", plan.currentRunResult, plan.lastRunTime),
        _result_field("Last test", plan.currentTestResult, plan.lastTestTime),
        _result_field("Last readiness check", plan.currentCheckResult, plan.lastCheckTime),
        f"*Result*\n{esc(plan.resultName or 'none yet')}",
    ]
    intro = (
        f"{esc(plan.description)}" if plan.description else f"{emoji} {esc(plan_type_label(plan.planType))}"
    )
    blocks: list[Block] = [header(plan.name), section(clip(intro, 2000), fields=fields)]
    small = [f"id `{esc(plan.id)}`"]
    if plan.lastStableStateName and plan.lastStableStateName != state:
        small.append(f"last stable state {esc(plan.lastStableStateName)}")
    if plan.contactName or plan.contactEmail:
        small.append(f"contact {esc(plan.contactName or '')} {esc(plan.contactEmail or '')}".strip())
    if plan.targetRPO is not None or plan.targetRTO is not None:
        small.append(f"target RPO {plan.targetRPO or '–'} min · RTO {plan.targetRTO or '–'} min")
    blocks.append(context(" · ".join(small)))
    verbs = next_actions(plan, allowed)
    if verbs:
        buttons = [
            button(
                verb_title(verb),
                plan_action_id(verb),
                plan.id,
                style="danger" if VERBS[verb].destructive else None,
            )
            for verb in verbs
        ]
        blocks.append(section("*What you can do next*"))
        blocks.append(actions(buttons, block_id="plan_actions"))
    else:
        blocks.append(context(f"Nothing can be started while the plan is {esc(state)}."))
    blocks.append(
        actions(
            [button(verb_title(v), plan_action_id(v), plan.id) for v in PLAN_VIEW_VERBS],
            block_id="plan_views",
        )
    )
    text = f"{plan.name}: {state}, {plan_type_label(plan.planType)}"
    return Message(clip(text, FALLBACK_TEXT_LIMIT), blocks)


def groups_message(
    plan_name: str, groups: Sequence[PlanGroup], *, page: int = 0, command: str | None = None
) -> Message:
    """``/vro groups``: the plan's groups in recovery order."""
    if not groups:
        return Message(f"{plan_name} has no groups.", [section(f"*{esc(plan_name)}* has no groups.")])
    ordered = sorted(groups, key=lambda g: g.order if g.order is not None else 1 << 30)
    lines = []
    for index, group in enumerate(ordered, start=1):
        kind = "virtual group" if (group.groupType or "").lower().startswith("virtual") else "VM group"
        bits = [kind]
        if group.isParallel:
            count = group.parallelProcessingVmsCount
            bits.append(f"parallel ({count} at a time)" if count else "parallel")
        if group.vmsCriticality:
            bits.append(f"criticality {group.vmsCriticality}")
        line = f"`{group.order if group.order is not None else index}.` *{esc(group.name)}* — {esc(' · '.join(bits))}"
        lines.append(described(line, group.description))
    return _lines_message(f"Groups of {plan_name}", lines, noun="group", page=page, command=command)


def vms_message(
    plan_name: str,
    groups: Sequence[tuple[PlanGroup, Sequence[PlanVm]]],
    *,
    page: int = 0,
    command: str | None = None,
) -> Message:
    """``/vro vms``: VMs under their group headings."""
    total = sum(len(vms) for _, vms in groups)
    if total == 0:
        return Message(
            f"{plan_name} has no VMs.", [section(f"*{esc(plan_name)}* has no VMs in these groups.")]
        )
    owners: list[tuple[str, list[str]]] = []
    for group, vms in groups:
        lines = []
        for vm in sorted(vms, key=lambda v: v.number if v.number is not None else 1 << 30):
            marks = [m for m, on in (("critical", vm.isCritical), ("source missing", vm.sourceMissing)) if on]
            lines.append(f"• {esc(vm.name)}" + (f" — {', '.join(marks)}" if marks else ""))
        owners.append((group.name, lines))
    return _grouped_message(f"VMs of {plan_name}", owners, noun="VM", page=page, command=command)


def steps_message(
    plan_name: str,
    owners: Sequence[tuple[str, Sequence[PlanStep]]],
    *,
    page: int = 0,
    command: str | None = None,
) -> Message:
    """``/vro steps``: steps under their owner (``VM sap-app01``, ``group Pre-failover``)."""
    total = sum(len(steps) for _, steps in owners)
    if total == 0:
        return Message(f"No steps in {plan_name}.", [section(f"No steps found in *{esc(plan_name)}*.")])
    listed: list[tuple[str, list[str]]] = []
    for owner, steps in owners:
        ordered = sorted(steps, key=lambda s: s.order if s.order is not None else 1 << 30)
        lines = []
        for index, step in enumerate(ordered, start=1):
            marks = [m for m, on in (("critical", step.isCritical), ("hidden", step.hidden)) if on]
            lines.append(f"`{index}.` {esc(step.name)}" + (f" — {', '.join(marks)}" if marks else ""))
        listed.append((owner, lines))
    return _grouped_message(f"Steps of {plan_name}", listed, noun="step", page=page, command=command)


def _parameter_value(value: Any) -> str:
    if value is None or value == "":
        return "_empty_"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return f"`{esc(clip(text, MAX_PARAMETER_VALUE)).replace('`', 'ˋ')}`"


def params_message(
    plan_name: str, step_name: str, parameters: Sequence[StepParameter], *, owner: str | None = None
) -> Message:
    """``/vro params``: a step's parameters with their values."""
    title = f"{step_name}" + (f" ({owner})" if owner else "") + f" in {plan_name}"
    if not parameters:
        return Message(f"{title}: no parameters.", [section(f"*{esc(title)}* has no parameters.")])
    lines = []
    for parameter in parameters[:MAX_PARAMETERS]:
        bits = [b for b in (parameter.type, "required" if parameter.isRequired else None) if b]
        label = f"*{esc(parameter.name)}*" + (f" ({esc(', '.join(bits))})" if bits else "")
        line = f"{label}: {_parameter_value(parameter.value)}"
        if parameter.description:
            line += f"\n      _{esc(clip(parameter.description, 200))}_"
        lines.append(line)
    blocks: list[Block] = [section(f"*Parameters of {esc(title)}*"), *pack_sections(lines)]
    if len(parameters) > MAX_PARAMETERS:
        blocks.append(cut_notice(MAX_PARAMETERS, len(parameters), "parameter"))
    return Message(clip(f"Parameters of {title}", FALLBACK_TEXT_LIMIT), blocks)


def _lines_message(title: str, lines: Sequence[str], *, noun: str, page: int, command: str | None) -> Message:
    paged = page_of(len(lines), page, LINES_PAGE_SIZE)
    return paged_list(title, lines[paged.start : paged.end], paged, noun, command=command)


def _grouped_message(
    title: str, owners: Sequence[tuple[str, Sequence[str]]], *, noun: str, page: int, command: str | None
) -> Message:
    """Items under owner headings, paged by item; a heading repeats (continued) on the next page."""
    flat = [(owner, line) for owner, lines in owners for line in lines]
    paged = page_of(len(flat), page, LINES_PAGE_SIZE)
    counts = {owner: len(lines) for owner, lines in owners}
    rendered: list[str] = []
    previous: str | None = None
    for index, (owner, line) in enumerate(flat[paged.start : paged.end]):
        if owner != previous:
            continued = index == 0 and paged.start > 0 and flat[paged.start - 1][0] == owner
            label = " (continued)" if continued else f" ({plural(counts[owner], noun)})"
            rendered.append(f"*{esc(owner)}*{label}")
            previous = owner
        rendered.append(f"    {line}")
    return paged_list(f"{title} ({plural(len(flat), noun)})", rendered, paged, noun, command=command)
