"""The status card: the one message of a watch updated in place (pure; ``now`` is a parameter).

Progress bar, where the run is, counts, time, and a note on how the watch stands.
"""

from __future__ import annotations

from datetime import datetime

from bot.slack.blocks.kit import Block, bar, clip, context, duration, esc, header, section
from bot.slack.message import Message
from bot.watcher.counts import RunCounts, run_counts
from bot.watcher.snapshot import Snapshot
from bot.watcher.watch_info import MAX_FALLBACK_CHARS, WatchInfo, action_title, people_line

PROGRESS_CELLS = 20
TEXT_WAITING = "Waiting for the plan to start; I will narrate it in this thread."


def status_card(
    info: WatchInfo,
    snapshot: Snapshot,
    *,
    now: datetime,
    status: str = "active",
    vro_unreachable: bool = False,
    counts: RunCounts | None = None,
) -> Message:
    """The one message updated in place: progress bar, where the run is, counts, time.

    ``counts`` is :func:`run_counts` of ``snapshot`` when the caller has it already.
    """
    plan = snapshot.plan
    name = plan.name if plan and plan.name else info.plan_name
    title = f"{action_title(info.action)}: {name}" if info.action else f"Watching {name}"
    blocks: list[Block] = [header(title)]
    if plan is None:
        state_line = "Reading the plan's progress from VRO…"
    else:
        state_line = f"*State:* {esc(plan.state_name or plan.state or 'unknown')}"
        if plan.result_name and not plan.running:
            state_line += f" — {esc(plan.result_name)}"
        state_line += f"\n`{bar(plan.progress, width=PROGRESS_CELLS)}` {plan.progress:.0f}%"
    blocks.append(section(state_line))

    where = _current(snapshot)
    if where:
        blocks.append(section(where))
    groups, vms, steps = counts if counts is not None else run_counts(snapshot)
    lines = []
    if groups.total:
        lines.append(groups.line("Groups"))
    if vms.total or vms.done:
        lines.append(vms.line("VMs"))
    if steps.total or steps.done:
        lines.append(steps.line("Steps"))
    timing = _timing(snapshot, now)
    if timing:
        lines.append(timing)
    if lines:
        blocks.append(section("\n".join(lines)))

    notes = []
    if status == "finished":
        notes.append("✅ Finished; the summary is in the thread.")
    elif status == "stopped":
        notes.append("⏹️ No longer watched.")
    elif status == "superseded":
        notes.append("↪️ A newer action on this plan is narrated in its own thread.")
    elif status == "no_run":
        notes.append("🤷 VRO showed no run of this action; no longer watched.")
    elif plan is not None and plan.halted:
        notes.append("⏸️ Halted: the choices are in the thread.")
    elif plan is not None and not plan.running and not snapshot.seen_running:
        notes.append(TEXT_WAITING)
    if vro_unreachable:
        notes.append("⚠️ VRO is not answering; this is the last known state.")
    people = people_line(info)
    if people:
        notes.append(people)
    if notes:
        blocks.append(context(" · ".join(notes)))
    pct = f" {plan.progress:.0f}%" if plan is not None else ""
    state = f" ({plan.state_name})" if plan is not None and plan.state_name else ""
    return Message(text=clip(f"{title}{state}{pct}", MAX_FALLBACK_CHARS), blocks=tuple(blocks))


def _current(snapshot: Snapshot) -> str:
    """ "Now: group › VM › step" from the running items."""
    running = [i for i in snapshot.items.values() if i.phase == "running"]
    if not running:
        return ""
    parts = []
    for kind, label in (("group", "Group"), ("vm", "VM"), ("step", "Step")):
        names = [i.name for i in sorted(running, key=lambda i: i.order) if i.kind == kind]
        if names:
            shown = ", ".join(esc(n) for n in names[:3])
            if len(names) > 3:
                shown += f" +{len(names) - 3} more"
            parts.append(f"*{label}:* {shown}")
    return "  ".join(parts)


def _timing(snapshot: Snapshot, now: datetime) -> str:
    plan = snapshot.plan
    if plan is None:
        return ""
    # Never VRO's start against the bot's clock: VRO's pair when finished, else the bot's own.
    if not plan.running and plan.started_at and plan.finished_at and plan.finished_at >= plan.started_at:
        elapsed = (plan.finished_at - plan.started_at).total_seconds()
    elif snapshot.seen_at is not None:
        elapsed = max(0.0, (now - snapshot.seen_at).total_seconds())
    else:
        return ""
    text = f"Elapsed {duration(elapsed)}"
    if plan.running and 0 < plan.progress < 100 and elapsed > 0:
        remaining = elapsed * (100 - plan.progress) / plan.progress
        text += f" · about {duration(remaining)} left"
    return text
