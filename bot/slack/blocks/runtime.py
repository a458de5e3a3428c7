"""``/vro status``: a plan's live progress as a tree (plan → groups → VMs → steps).

Big plans do not fit in one message, so the tree is shown at the most detail that fits: first
every group with up to a few VMs and steps each (running and failing ones first); then, if that
is still too long, finished-and-fine groups folded into one line; then a cut with a notice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

from bot.slack.blocks.kit import (
    FALLBACK_TEXT_LIMIT,
    Block,
    Message,
    clip,
    context,
    cut_notice,
    esc,
    header,
    item_emoji,
    pack_sections,
    plan_emoji,
    plan_state_label,
    plural,
    progress_bar,
    result_emoji,
    section,
    when,
)
from bot.vro.models import (
    ExecutionDetail,
    GroupRuntimeDetails,
    PlanRuntimeDetails,
    RuntimeItem,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.vro.results import normalize_result

MAX_TREE_SECTIONS: Final = 40
DETAILED: Final = (8, 5)  # VMs per group, steps per VM
COMPACT: Final = (3, 1)
MAX_DETAIL_TEXT: Final = 200

Item = TypeVar("Item", bound=RuntimeItem)


def _result(item: RuntimeItem) -> str | None:
    """The item's result, spelled Success / Warning / Error when VRO's word means one."""
    return normalize_result(item.executionResult.result) if item.executionResult else None


def _weight(item: RuntimeItem) -> int:
    """How much an item deserves a line: running or failed first, then warnings."""
    state = (item.executionState or "").lower()
    result = (_result(item) or "").lower()
    if state == "running" or result == "error" or state in {"failed", "halted"}:
        return 2
    if result == "warning":
        return 1
    return 0


def _pick(items: Sequence[Item], limit: int, *, only_notable: bool = False) -> list[Item]:
    """Up to ``limit`` items, the notable ones first, kept in their original order."""
    ranked = sorted(range(len(items)), key=lambda i: (-_weight(items[i]), i))
    chosen = [i for i in ranked if not only_notable or _weight(items[i]) > 0][:limit]
    return [items[i] for i in sorted(chosen)]


def _is_fine(item: RuntimeItem) -> bool:
    return (item.executionState or "").lower() == "completed" and (
        _result(item) or "success"
    ).lower() == "success"


def _detail_line(item: RuntimeItem) -> str | None:
    """VRO's friendlyInfo of the worst warning or error of an item."""
    details: list[ExecutionDetail] = item.executionResult.details if item.executionResult else []
    for severity in ("error", "warning"):
        for detail in details:
            if (detail.severity or "").lower() == severity and detail.friendlyInfo:
                return f"_{esc(clip(detail.friendlyInfo, MAX_DETAIL_TEXT))}_"
    return None


def _line(item: RuntimeItem, indent: int) -> str:
    pad = "    " * indent
    emoji = item_emoji(item.executionState, _result(item))
    progress = ""
    if (item.executionState or "").lower() == "running":
        progress = f" {float(item.progress):.0f}%"
    return f"{pad}{emoji} {esc(item.name or item.id)}{progress}"


def _group_line(group: GroupRuntimeDetails) -> str:
    counts = f"{group.successCount}/{group.totalCount} ok"
    if group.warningCount:
        counts += f", {plural(group.warningCount, 'warning')}"
    if group.errorCount:
        counts += f", {plural(group.errorCount, 'error')}"
    emoji = item_emoji(group.executionState, _result(group))
    return f"{emoji} *{esc(group.name or group.id)}* {progress_bar(group.progress)} · {counts}"


def _more(hidden: Sequence[RuntimeItem], noun: str, indent: int) -> str:
    tally: dict[str, int] = {}
    for item in hidden:
        emoji = item_emoji(item.executionState, _result(item))
        tally[emoji] = tally.get(emoji, 0) + 1
    summary = ", ".join(f"{count:,} {emoji}" for emoji, count in tally.items())
    return f"{'    ' * indent}… and {plural(len(hidden), noun)} more ({summary})"


def _children_lines(
    items: Sequence[Item],
    limit: int,
    noun: str,
    indent: int,
    below: Callable[[Item], list[str]] | None = None,
    *,
    only_notable: bool = False,
) -> list[str]:
    shown = _pick(items, limit, only_notable=only_notable)
    lines: list[str] = []
    for item in shown:
        lines.append(_line(item, indent))
        detail = _detail_line(item)
        if detail:
            lines.append(f"{'    ' * (indent + 1)}{detail}")
        if below is not None:
            lines += below(item)
    shown_ids = {id(item) for item in shown}
    hidden = [item for item in items if id(item) not in shown_ids]
    if hidden and (not only_notable or shown):
        lines.append(_more(hidden, noun, indent))
    return lines


def _tree_lines(
    groups: Sequence[GroupRuntimeDetails],
    vms: Mapping[str, Sequence[VmRuntimeDetails]],
    steps: Mapping[str, Sequence[StepRuntimeDetails]],
    *,
    limits: tuple[int, int],
    fold_fine: bool,
) -> list[list[str]]:
    """Lines per group (a group's lines stay together so the tree can be cut between groups)."""
    vm_limit, step_limit = limits
    compact = fold_fine

    def vm_steps(vm: VmRuntimeDetails) -> list[str]:
        # a VM that is idle or finished fine needs no steps under it
        if _weight(vm) == 0:
            return []
        return _children_lines(steps.get(vm.id, ()), step_limit, "step", 2, only_notable=True)

    chunks: list[list[str]] = []
    folded: list[GroupRuntimeDetails] = []
    for group in groups:
        if fold_fine and _is_fine(group):
            folded.append(group)
            continue
        lines = [_group_line(group)]
        detail = _detail_line(group)
        if detail:
            lines.append(f"    {detail}")
        group_vms = vms.get(group.id, ())
        if group_vms:
            lines += _children_lines(group_vms, vm_limit, "VM", 1, vm_steps)
        else:
            lines += _children_lines(steps.get(group.id, ()), step_limit, "step", 1, only_notable=compact)
        chunks.append(lines)
    if folded:
        chunks.insert(
            0, [f":white_check_mark: {plural(len(folded), 'group')} finished without warnings or errors"]
        )
    return chunks


def _fits(chunks: Sequence[Sequence[str]]) -> bool:
    return len(pack_sections(line for chunk in chunks for line in chunk)) <= MAX_TREE_SECTIONS


def status_message(
    plan: PlanRuntimeDetails,
    groups: Sequence[GroupRuntimeDetails] = (),
    *,
    vms: Mapping[str, Sequence[VmRuntimeDetails]] | None = None,
    steps: Mapping[str, Sequence[StepRuntimeDetails]] | None = None,
) -> Message:
    """The runtime tree of a plan.

    ``vms`` maps a group id to its VMs' runtime details; ``steps`` maps a VM id (or a virtual
    group's id) to its steps'. Pass what was fetched; missing levels are simply not shown.
    """
    vms = vms or {}
    steps = steps or {}
    state = plan_state_label(plan.state, plan.stateName)
    emoji = plan_emoji(plan.state)
    if plan.isRunningState:
        emoji = ":arrows_counterclockwise:"
    started = plan.executionResult.startTime if plan.executionResult else None
    finished = plan.executionResult.finishTime if plan.executionResult else None
    fields = [
        f"*State*\n{emoji} {esc(state)}",
        f"*Progress*\n{progress_bar(plan.totalProgress or plan.progress)}",
        f"*Result*\n{esc(plan.resultName or 'none yet')}",
        f"*Last stable state*\n{esc(plan.lastStableStateName or plan.lastStableState or 'unknown')}",
        f"*Started*\n{when(started, fallback='not yet')}",
        f"*Finished*\n{when(finished, fallback='not yet' if plan.isRunningState else '–')}",
    ]
    blocks: list[Block] = [header(plan.name or plan.id), section(f"{emoji} *{esc(state)}*", fields=fields)]
    results = [
        f"{label}: {result_emoji(value)} {esc(value)}"
        for label, value in (
            ("last run", plan.currentRunResult),
            ("last test", plan.currentTestResult),
            ("last check", plan.currentCheckResult),
        )
        if value
    ]
    if results:
        blocks.append(context(" · ".join(results)))

    if groups:
        chunks = _tree_lines(groups, vms, steps, limits=DETAILED, fold_fine=False)
        if not _fits(chunks):
            chunks = _tree_lines(groups, vms, steps, limits=COMPACT, fold_fine=True)
        shown = len(chunks)
        while shown > 1 and not _fits(chunks[:shown]):
            shown = max(1, shown * 3 // 4)
        blocks += pack_sections(line for chunk in chunks[:shown] for line in chunk)[:MAX_TREE_SECTIONS]
        if shown < len(chunks):
            blocks.append(
                cut_notice(shown, len(chunks), "group", "`/vro vms` and `/vro steps` show a part in full.")
            )
    text = f"{plan.name or plan.id}: {state}, {float(plan.totalProgress or plan.progress):.0f}%"
    return Message(clip(text, FALLBACK_TEXT_LIMIT), blocks)
