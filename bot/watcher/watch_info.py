"""Who and what a watch is about, in the words every watcher message shares (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.vro import plan_states

MAX_FALLBACK_CHARS = 300  # a message's plain-text fallback (notifications) is clipped to this


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


def action_title(action: str | None) -> str:
    if not action:
        return "Run"
    return plan_states.ACTION_TITLES.get(action, action.replace("-", " ").capitalize())


def people_line(info: WatchInfo) -> str:
    parts = []
    if info.requested_by:
        parts.append(f"Requested by <@{info.requested_by}>")
    if info.approved_by:
        parts.append("approved by " + ", ".join(f"<@{u}>" for u in info.approved_by))
    return " · ".join(parts)
