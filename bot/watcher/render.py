"""Block Kit for the watcher: the status card, the batched thread messages, the summary (pure).

Data in, :class:`~bot.slack.message.Message` out; no I/O, no clock (``now`` is a parameter).

Thread messages are compact on purpose: the steps of one VM read as one line
(``*web-01*: started · ✓ Check license · ✓ Power on · done ✓``), so a 1,000-VM plan takes tens
of messages while every step transition still appears. A message is split only where Block Kit
requires it (50 blocks, 3,000 characters per section) or where Slack would truncate it.

Buttons on a halt carry action ids the Slack layer routes through the approval policy:
``vro_action:continue:<ContinueOption>`` and ``vro_action:undo``, with the value
``{"plan_id": ..., "option": ...}`` (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.slack.blocks.kit import (
    CONTINUE_ACTION_PREFIX,
    UNDO_ACTION_ID,
    Block,
    actions,
    bar,
    button,
    chunk_lines,
    clip,
    confirm,
    context,
    duration,
    esc,
    header,
    section,
    split_blocks,
)
from bot.slack.message import Message
from bot.vro import plan_states
from bot.vro.models import ContinueOption
from bot.watcher.diff import Event
from bot.watcher.runs import rto_line, run_record
from bot.watcher.snapshot import Item, Snapshot, reported_issues

MAX_FALLBACK_CHARS = 300
PROGRESS_CELLS = 20

CONTINUE_LABELS: dict[str, str] = {
    ContinueOption.RETRY_FAILED_STEP: "Retry failed step",
    ContinueOption.RETRY_FAILED_VM: "Retry failed VM",
    ContinueOption.RETRY_FAILED_GROUP: "Retry failed group",
    ContinueOption.PROCEED_TO_NEXT_STEP: "Skip to next step",
    ContinueOption.PROCEED_TO_NEXT_VM: "Skip to next VM",
    ContinueOption.PROCEED_TO_NEXT_GROUP: "Skip to next group",
}

ITEM_KINDS = frozenset({"started", "completed", "failed", "skipped", "halted"})
STEP_MARK = {"completed": "✓", "failed": "✗", "skipped": "⤼", "halted": "■"}
GROUP_MARK = {"started": "▶️", "completed": "✅", "failed": "❌", "skipped": "⏭️", "halted": "⏹️"}

TEXT_RESET = (
    "♻️ VRO's run details were reset (VRO restarted?). I kept what I had already seen and carry on here."
)
TEXT_UNREACHABLE = "⚠️ VRO is not answering ({reason}). I keep trying and will say here when it is back."
TEXT_BACK = "✅ VRO is answering again; picking up where I left off."
TEXT_STOPPED = "⏹️ Stopped watching *{plan}*{by}. The plan itself was not touched."
TEXT_WAITING = "Waiting for the plan to start; I will narrate it in this thread."


@dataclass(frozen=True)
class WatchInfo:
    """Who and what a watch is about (from the watch row)."""

    plan_id: str
    plan_name: str
    action: str | None = None
    requested_by: str | None = None
    approved_by: tuple[str, ...] = ()
    started_at: datetime | None = None
    rto_minutes: int | None = None  # the plan's recovery time objective (policy), if any


# --- small helpers ----------------------------------------------------------------------------


def action_title(action: str | None) -> str:
    if not action:
        return "Run"
    return plan_states.ACTION_TITLES.get(action, action.replace("-", " ").capitalize())


def _people(info: WatchInfo) -> str:
    parts = []
    if info.requested_by:
        parts.append(f"Requested by <@{info.requested_by}>")
    if info.approved_by:
        parts.append("approved by " + ", ".join(f"<@{u}>" for u in info.approved_by))
    return " · ".join(parts)


# --- counts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    total: int | None
    """None when only part of the items is known (the line then says how many are done)."""
    done: int
    success: int
    warning: int
    error: int
    skipped: int

    @classmethod
    def of(cls, items: Iterable[Item]) -> Counts:
        items = list(items)
        success = warning = error = skipped = done = 0
        for item in items:
            if item.phase == "failed" or (
                item.phase == "completed" and (item.result or "").lower() == "error"
            ):
                error += 1
            elif item.phase == "completed" and (item.result or "").lower() == "warning":
                warning += 1
            elif item.phase == "completed":
                success += 1
            elif item.phase in ("skipped", "halted"):
                skipped += 1
            done += item.phase in ("completed", "failed", "skipped", "halted")
        return cls(len(items), done, success, warning, error, skipped)

    @classmethod
    def reported(cls, items: Iterable[Item], *, complete: bool) -> Counts | None:
        """The sum of VRO's own counts on ``items`` (None when none carries any); the total is
        kept only when ``complete`` (every item that holds part of the total is known)."""
        counted = [item.counts for item in items if item.counts is not None]
        if not counted:
            return None
        success, warning, error, total = (sum(column) for column in zip(*counted, strict=True))
        if total == 0:  # VRO left them out (they default to 0)
            return None
        return cls(total if complete else None, success + warning + error, success, warning, error, 0)

    def line(self, noun: str) -> str:
        marks = f"✓ {self.success} · ⚠ {self.warning} · ✗ {self.error}"
        if self.skipped:
            marks += f" · ⤼ {self.skipped}"
        if self.total is None:
            return f"{noun} {self.done} done ({marks})"
        return f"{noun} {self.done}/{self.total} ({marks})"


def run_counts(snapshot: Snapshot) -> tuple[Counts, Counts, Counts]:
    """Groups, VMs and steps of the whole plan.

    The watcher reads only the groups, VMs and steps that moved, so the snapshot may hold 2 of a
    plan's 9 VMs in the middle of a run: VM totals come from the counts VRO keeps on every group,
    step totals from those on every VM once all VMs have been seen ("N done" until then).
    """
    groups = snapshot.of_kind("group")
    vms = snapshot.of_kind("vm")
    seen_vms = Counts.of(vms)
    reported_vms = Counts.reported([g for g in groups if not g.virtual], complete=True)
    vm_counts = seen_vms
    if reported_vms is not None and (reported_vms.total or 0) >= len(vms):
        vm_counts = reported_vms
    all_vms_seen = vm_counts.total is not None and len(vms) >= vm_counts.total
    # Steps: those of every VM, plus those of groups without VMs (counted on the group itself).
    seen_steps = Counts.of(snapshot.of_kind("step"))
    reported_steps = Counts.reported([*vms, *(g for g in groups if g.virtual)], complete=all_vms_seen)
    step_counts = seen_steps
    if reported_steps is not None and reported_steps.done >= seen_steps.done:
        step_counts = reported_steps
    return Counts.of(groups), vm_counts, step_counts


# --- the status card --------------------------------------------------------------------------


def status_card(
    info: WatchInfo,
    snapshot: Snapshot,
    *,
    now: datetime,
    status: str = "active",
    vro_unreachable: bool = False,
) -> Message:
    """The one message updated in place: progress bar, where the run is, counts, time."""
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
    groups, vms, steps = run_counts(snapshot)
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
    people = _people(info)
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


# --- thread messages --------------------------------------------------------------------------


def thread_messages(events: Sequence[Event], *, info: WatchInfo) -> list[Message]:
    """The events of one batching window as few messages as Block Kit allows, in order."""
    blocks: list[Block] = []
    lines: list[str] = []

    def flush_lines() -> None:
        for chunk in chunk_lines(lines):
            blocks.append(section(chunk))
        lines.clear()

    for entry in _lines(events, info.plan_id):
        if isinstance(entry, str):
            lines.append(entry)
        else:
            flush_lines()
            blocks.extend(entry)
    flush_lines()
    if not blocks:
        return []
    return [
        Message(text=clip(_fallback(events, info), MAX_FALLBACK_CHARS), blocks=tuple(part))
        for part in split_blocks(blocks)
    ]


def _fallback(events: Sequence[Event], info: WatchInfo) -> str:
    special = [e for e in events if e.kind in ("plan_halted", "vro_unreachable", "vro_back", "runtime_reset")]
    if special:
        kind = special[0].kind
        return {
            "plan_halted": f"{info.plan_name} halted: choose how to continue",
            "vro_unreachable": f"{info.plan_name}: VRO is not answering",
            "vro_back": f"{info.plan_name}: VRO is answering again",
            "runtime_reset": f"{info.plan_name}: VRO's run details were reset",
        }[kind]
    steps = sum(1 for e in events if e.scope == "step" and e.kind != "issue")
    issues = sum(1 for e in events if e.kind == "issue")
    text = f"{info.plan_name}: {steps} step update{'s' if steps != 1 else ''}"
    if issues:
        text += f", {issues} warning{'s' if issues != 1 else ''} or error{'s' if issues != 1 else ''}"
    return text


def _step_token(event: Event) -> str:
    name = esc(event.name)
    retry = " (again)" if event.retry else ""
    if event.kind == "started":
        return f"▸ {name}{retry}"
    mark = STEP_MARK.get(event.kind, "•")
    if event.kind == "completed" and (event.result or "").lower() == "warning":
        mark = "⚠"
    suffix = {"skipped": " (skipped)", "halted": " (halted)"}.get(event.kind, "")
    return f"{mark} {name}{suffix}{retry}"


def _vm_token(event: Event) -> str:
    if event.kind == "started":
        return "started again" if event.retry else "started"
    if event.kind == "completed":
        return "done ⚠" if (event.result or "").lower() == "warning" else "done ✓"
    return {"failed": "failed ✗", "skipped": "skipped ⤼", "halted": "halted ■"}.get(event.kind, event.kind)


def _lines(events: Sequence[Event], plan_id: str) -> Iterable[str | list[Block]]:
    """Mrkdwn lines, or whole blocks (a halt's buttons), in event order.

    Consecutive events of one VM (or of one virtual group's steps) share a line; a step that
    starts and finishes within the window shows once, finished.
    """
    owner: str | None = None
    head = ""
    tokens: list[str] = []
    started_at: dict[str, int] = {}

    def close() -> Iterable[str]:
        nonlocal owner, head
        if owner is not None and tokens:
            yield f"{head}: " + " · ".join(tokens)
        owner, head = None, ""
        tokens.clear()
        started_at.clear()

    for event in events:
        if event.kind == "issue":
            yield from close()
            yield _issue_line(event)
            continue
        if event.scope in ("step", "vm") and event.kind in ITEM_KINDS:
            if event.scope == "vm":
                key, label = f"vm:{event.name}", f"*{esc(event.name)}*"
            elif event.vm is not None:
                key, label = f"vm:{event.vm}", f"*{esc(event.vm)}*"
            else:
                key, label = f"group:{event.group}", f"*{esc(event.group or 'Plan steps')}*"
            if key != owner:
                yield from close()
                owner, head = key, label
            if event.scope == "vm":
                tokens.append(_vm_token(event))
            elif event.kind == "started":
                started_at[event.key] = len(tokens)
                tokens.append(_step_token(event))
            elif event.key in started_at:
                tokens[started_at.pop(event.key)] = _step_token(event)
            else:
                tokens.append(_step_token(event))
            continue
        yield from close()
        if event.scope == "group" and event.kind in ITEM_KINDS:
            yield _group_line(event)
        elif event.kind == "plan_state":
            was = f" (was {esc(event.previous)})" if event.previous else ""
            yield f"🔄 Plan state: *{esc(event.text or '')}*{was}"
        elif event.kind == "plan_resumed":
            yield f"▶️ *{esc(event.name)}* is running again."
        elif event.kind == "runtime_reset":
            yield TEXT_RESET
        elif event.kind == "vro_unreachable":
            yield TEXT_UNREACHABLE.format(reason=esc(event.text or "no answer"))
        elif event.kind == "vro_back":
            yield TEXT_BACK
        elif event.kind == "stopped":
            by = f" (asked by <@{event.text}>)" if event.text else ""
            yield TEXT_STOPPED.format(plan=esc(event.name), by=by)
        elif event.kind == "plan_halted":
            yield halt_blocks(event, plan_id=plan_id)
        # "finished" has its own message (the summary)
    yield from close()


def _group_line(event: Event) -> str:
    mark = GROUP_MARK.get(event.kind, "•")
    verb = {
        "started": "started",
        "completed": "completed",
        "failed": "failed",
        "skipped": "skipped",
        "halted": "halted",
    }[event.kind]
    if event.kind == "started" and event.retry:
        verb = "started again"
    if event.kind == "completed" and (event.result or "").lower() == "warning":
        mark, verb = "⚠️", "completed with warnings"
    return f"{mark} Group *{esc(event.name)}* {verb}"


def _where(event: Event) -> str:
    parts = [p for p in (event.group if event.scope == "vm" else None, event.vm, event.name) if p]
    if event.scope == "plan":
        parts = [event.name] if event.name else []
    return " › ".join(esc(p) for p in parts) or "Plan"


def _issue_line(event: Event) -> str:
    mark = "❌" if event.severity == "Error" else "⚠️"
    return f"{mark} {_where(event)}: {esc(event.text or '')}"


def halt_blocks(event: Event, *, plan_id: str) -> list[Block]:
    """The halt notice with a button per Continue option and Undo (routed through approvals)."""
    if event.previous:
        where = " on " + esc(event.vm) if event.vm else (" in " + esc(event.group) if event.group else "")
        cause = f" after *{esc(event.previous)}* failed{where}"
    else:
        cause = ""
    text = (
        f"⏸️ *{esc(event.name)}* is halted{cause}. Choose how VRO should go on (each choice needs approval):"
    )
    buttons = [
        button(
            CONTINUE_LABELS.get(option, option),
            f"{CONTINUE_ACTION_PREFIX}{option}",
            json.dumps({"plan_id": plan_id, "option": option}),
        )
        for option in event.options
    ]
    if event.undo:
        buttons.append(
            button(
                "Undo",
                UNDO_ACTION_ID,
                json.dumps({"plan_id": plan_id, "option": "Undo"}),
                style="danger",
                confirm_dialog=confirm(
                    "Request an undo?",
                    f"This asks for approval to undo {event.name}.",
                    ok="Request undo",
                ),
            )
        )
    blocks = [section(text)]
    if buttons:
        blocks.append(actions(buttons, block_id=f"vro_halt:{event.seq}"))
    return blocks


# --- the summary ------------------------------------------------------------------------------


def summary_messages(info: WatchInfo, snapshot: Snapshot, *, now: datetime) -> list[Message]:
    """The end of the run: result, duration, counts, every warning and error, who asked."""
    plan = snapshot.plan
    name = plan.name if plan and plan.name else info.plan_name
    state = plan.state_name if plan else "unknown"
    result = (
        plan.result_name
        if plan and plan.result_name
        else (plan.result if plan and plan.result else "no result")
    )
    outcome = (plan.result or "").lower() if plan else ""
    mark = {"success": "✅", "warning": "⚠️", "error": "❌"}.get(outcome, "🏁")
    head = f"{mark} *{esc(action_title(info.action))} of {esc(name)} finished*: VRO says *{esc(state)}* — {esc(result)}"
    steps = Counts.of(snapshot.of_kind("step"))
    vms = Counts.of(snapshot.of_kind("vm"))
    facts = []
    # VRO's own start and finish when it gave both; otherwise the bot's first and last sight of
    # the run. The two clocks are never mixed (VRO's may be hours off the bot's).
    if plan is not None and plan.started_at and plan.finished_at and plan.finished_at >= plan.started_at:
        facts.append(f"Duration {duration((plan.finished_at - plan.started_at).total_seconds())}")
    elif snapshot.seen_at is not None:
        facts.append(f"Duration {duration(max(0.0, (now - snapshot.seen_at).total_seconds()))}")
    if steps.total:
        facts.append(steps.line("Steps"))
    if vms.total:
        facts.append(vms.line("VMs"))
    people = _people(info)
    lines = [head, " · ".join(facts)] if facts else [head]
    rto = run_record(snapshot, now=now, rto_minutes=info.rto_minutes).rto
    if rto is not None:
        lines.append(rto_line(rto))
    if people:
        lines.append(people)
    blocks: list[Block] = [section("\n".join(lines))]

    warnings, errors = _issues(snapshot)
    if errors:
        blocks.append(section(f"*Errors ({len(errors)})*"))
        blocks.extend(section(chunk) for chunk in chunk_lines(errors))
    if warnings:
        blocks.append(section(f"*Warnings ({len(warnings)})*"))
        blocks.extend(section(chunk) for chunk in chunk_lines(warnings))
    fallback = f"{action_title(info.action)} of {name} finished: {state} — {result}"
    return [
        Message(text=clip(fallback, MAX_FALLBACK_CHARS), blocks=tuple(part)) for part in split_blocks(blocks)
    ]


def _issues(snapshot: Snapshot) -> tuple[list[str], list[str]]:
    """Every warning and error where it happened, as summary lines (warnings, errors)."""
    warnings: list[str] = []
    errors: list[str] = []
    by_key = snapshot.items

    def where(item: Item) -> str:
        names = [item.name]
        parent = by_key.get(item.parent) if item.parent else None
        while parent is not None:
            names.append(parent.name)
            parent = by_key.get(parent.parent) if parent.parent else None
        return " › ".join(esc(n) for n in reversed(names))

    for item, issue in reported_issues(snapshot):
        line = f"• {where(item) if item is not None else 'Plan'}: {esc(issue.text)}"
        (errors if issue.severity == "Error" else warnings).append(line)
    return warnings, errors
