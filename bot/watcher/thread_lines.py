"""The run's thread: batched events as compact lines, and a halt's buttons (pure).

The steps of one VM read as one line (``*web-01*: started · ✓ Check license · ✓ Power on ·
done ✓``), so a 1,000-VM plan takes tens of messages while every step transition still appears.
A message is split only where Block Kit requires it (50 blocks, 3,000 characters per section).

Buttons on a halt carry action ids the Slack layer routes through the approval policy:
``vro_action:continue:<ContinueOption>`` and ``vro_action:undo``, with the value
``{"plan_id": ..., "option": ...}`` (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from bot.slack.blocks.kit import (
    CONTINUE_ACTION_PREFIX,
    UNDO_ACTION_ID,
    Block,
    actions,
    button,
    chunk_lines,
    clip,
    confirm,
    esc,
    section,
    split_blocks,
)
from bot.slack.message import Message
from bot.vro.models import ContinueOption
from bot.watcher.events import Event
from bot.watcher.watch_info import MAX_FALLBACK_CHARS, WatchInfo

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
    parts = []
    if steps:
        parts.append(f"{steps} step update{'s' if steps != 1 else ''}")
    elif others := sum(1 for e in events if e.kind != "issue"):
        # Only groups and VMs starting or finishing: "0 step updates" would say nothing happened.
        parts.append(f"{others} update{'s' if others != 1 else ''}")
    if issues:
        parts.append(f"{issues} warning{'s' if issues != 1 else ''} or error{'s' if issues != 1 else ''}")
    return f"{info.plan_name}: {', '.join(parts) or 'progress'}"


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
