"""The channel board: one live message for every run narrated in a busy channel (pure).

When a site fails over, thirty runs may narrate in one channel. Each has its status card, but
``chat.update`` is budgeted for the whole workspace (Tier 3, about 50 edits a minute): thirty
cards changing every few seconds would each be redrawn only every half minute or so. The board
is one more message in the channel, one line per run, redrawn every few seconds ahead of the
cards: however many runs there are, the channel sees where each one is within seconds. The
cards still follow, most stale first, with what budget is left.

A board opens when a channel has ``min_runs`` runs narrated at once; it lists every run that
was narrated there while it was open (a finished run keeps its line with its result) and closes
with a last redraw when the last of them ends. The next busy moment opens a new board.

Data in, :class:`~bot.slack.message.Message` out: :func:`tally_of` condenses a snapshot into
what a line needs (stored with the watch), :func:`board_message` draws the lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks.kit import MAX_MESSAGE_BLOCKS, clip, context, esc, header, pack_sections, plural
from bot.slack.message import Message
from bot.watcher.counts import RunCounts, run_counts
from bot.watcher.snapshot import Snapshot
from bot.watcher.watch_info import action_title

MAX_FALLBACK_CHARS = 300
# Lines shown at most (50 blocks of up to 3,000 characters hold more, but a longer board is
# not read; the runs left out are counted in the last line).
MAX_LINES = 100

# A watch's status (bot.watcher.tables) -> how its line reads when it is no longer active.
ENDED = {
    "finished": "",
    "stopped": "⏹️ no longer watched",
    "superseded": "↪️ superseded by a newer action",
    "no_run": "🤷 VRO showed no run",
    "closed": "🚫 not run: VRO refused it",
}


@dataclass(frozen=True)
class Tally:
    """What a board line shows of one run, condensed from its snapshot (stored as JSON)."""

    state: str = ""
    progress: float = 0.0
    running: bool = False
    halted: bool = False
    result: str = ""
    steps_done: int = 0
    steps_total: int | None = None
    warnings: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "progress": self.progress,
            "running": self.running,
            "halted": self.halted,
            "result": self.result,
            "steps_done": self.steps_done,
            "steps_total": self.steps_total,
            "warnings": self.warnings,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Tally:
        if not data:
            return cls()
        total = data.get("steps_total")
        return cls(
            state=str(data.get("state") or ""),
            progress=float(data.get("progress") or 0.0),
            running=bool(data.get("running")),
            halted=bool(data.get("halted")),
            result=str(data.get("result") or ""),
            steps_done=int(data.get("steps_done") or 0),
            steps_total=None if total is None else int(total),
            warnings=int(data.get("warnings") or 0),
            errors=int(data.get("errors") or 0),
        )


def tally_of(snapshot: Snapshot, counts: RunCounts | None = None) -> Tally:
    """The run as a board line sees it: state, progress, steps done, warnings and errors.

    ``counts`` is :func:`run_counts` of ``snapshot`` when the caller has it already.
    """
    plan = snapshot.plan
    _, _, steps = counts if counts is not None else run_counts(snapshot)
    if plan is None:
        return Tally(steps_done=steps.done, steps_total=steps.total)
    return Tally(
        state=plan.state_name or plan.state,
        progress=plan.progress,
        running=plan.running,
        halted=plan.halted,
        result=plan.result_name if not plan.running else "",
        steps_done=steps.done,
        steps_total=steps.total,
        warnings=steps.warning,
        errors=steps.error,
    )


@dataclass(frozen=True)
class BoardRun:
    """One line of the board: a watch, its status and its last tally."""

    watch_id: int
    plan_name: str
    action: str | None
    status: str  # the watch's status (bot.watcher.tables)
    tally: Tally
    vro_unreachable: bool = False

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def needs_attention(self) -> bool:
        return self.tally.halted or self.tally.errors > 0 or self.vro_unreachable


def should_open(active_runs: int, min_runs: int) -> bool:
    """A board opens once this many runs narrate in the channel at once (0: never)."""
    return min_runs > 0 and active_runs >= min_runs


def board_line(run: BoardRun) -> str:
    """``⏳ *Web Frontend* · Failover · Running 45% · steps 12/50 · ⚠ 1``"""
    tally = run.tally
    title = action_title(run.action) if run.action else "Watching"
    parts = [f"{_mark(run)} *{esc(run.plan_name)}*", esc(title)]
    if run.active:
        if tally.halted:
            parts.append(esc(tally.state or "Halted"))
        elif tally.running:
            parts.append(f"{esc(tally.state or 'Running')} {tally.progress:.0f}%")
        else:
            parts.append(esc(tally.state or "Waiting to start"))
    elif ENDED.get(run.status):
        parts.append(ENDED[run.status])
    else:
        parts.append(esc(tally.result or tally.state or "ended"))
    if tally.steps_total:
        parts.append(f"steps {tally.steps_done}/{tally.steps_total}")
    elif tally.steps_done:
        parts.append(f"steps {tally.steps_done} done")
    if tally.warnings:
        parts.append(f"⚠ {tally.warnings}")
    if tally.errors:
        parts.append(f"✗ {tally.errors}")
    if run.active and tally.halted:
        parts.append("halted: the choices are in its thread")
    if run.active and run.vro_unreachable:
        parts.append("VRO not answering")
    return " · ".join(parts)


def _mark(run: BoardRun) -> str:
    tally = run.tally
    if run.active:
        if tally.halted:
            return "⏸️"
        if run.vro_unreachable:
            return "⚠️"
        return "⏳" if tally.running else "🕒"
    if run.status != "finished":
        return "▫️"
    if tally.errors or (tally.result or "").lower() in ("error", "failed", "halted"):
        return "❌"
    if tally.warnings or (tally.result or "").lower() == "warning":
        return "⚠️"
    return "✅"


def board_message(runs: Sequence[BoardRun]) -> Message:
    """The board: a header, the counts, a line per run (in the order the runs began)."""
    active = [run for run in runs if run.active]
    attention = [run for run in runs if run.needs_attention and run.active]
    ended = len(runs) - len(active)
    if active:
        title = f"🗂️ {plural(len(active), 'run')} in progress in this channel"
    else:
        title = f"🗂️ All {plural(len(runs), 'run')} in this channel ended"
    counts = [f"{len(active)} running", f"{ended} ended"]
    if attention:
        counts.append(f"{len(attention)} need attention")
    note = "Updated every few seconds; each run's steps are in its own thread."
    if not active:
        note = "Each run's summary is in its own thread."
    shown = list(runs[:MAX_LINES])
    lines = [board_line(run) for run in shown]
    if len(runs) > len(shown):
        lines.append(f"…and {plural(len(runs) - len(shown), 'more run')}")
    blocks = [header(title), context(" · ".join(counts) + f" — {note}")]
    blocks.extend(pack_sections(lines)[: MAX_MESSAGE_BLOCKS - len(blocks)])
    summary = ", ".join(
        f"{run.plan_name} {run.tally.progress:.0f}%" if run.active else f"{run.plan_name} ended"
        for run in shown
    )
    return Message(text=clip(f"{title}: {summary}", MAX_FALLBACK_CHARS), blocks=tuple(blocks))
