"""The summary posted in the thread when a run ends (pure; ``now`` is a parameter).

Result, duration, counts, the RTO when the policy sets one, every warning and error, who asked.
"""

from __future__ import annotations

from datetime import datetime

from bot.slack.blocks.kit import Block, chunk_lines, clip, duration, esc, section, split_blocks
from bot.slack.message import Message
from bot.watcher.counts import Counts
from bot.watcher.runs import rto_line, run_record, run_span
from bot.watcher.snapshot import Item, Snapshot, reported_issues
from bot.watcher.watch_info import MAX_FALLBACK_CHARS, WatchInfo, action_title, people_line


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
    start, end = run_span(snapshot, now=now)
    if start is not None and end is not None:
        facts.append(f"Duration {duration((end - start).total_seconds())}")
    if steps.total:
        facts.append(steps.line("Steps"))
    if vms.total:
        facts.append(vms.line("VMs"))
    people = people_line(info)
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
