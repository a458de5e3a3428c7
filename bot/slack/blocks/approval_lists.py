"""The bot's own store as lists: ``/vro approvals`` (the requests still waiting) and
``/vro audit [plan]`` (the audit log, newest first). The approval card is in
:mod:`bot.slack.blocks.approvals`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from bot.slack.blocks.approvals import ApprovalCardView, mention
from bot.slack.blocks.kit import Message, clip, esc, page_of, paged_list, plural, section, verb_title, when

AUDIT_PAGE_SIZE: Final = 25
APPROVALS_PAGE_SIZE: Final = 20


def _pending_line(view: ApprovalCardView) -> str:
    where = f" · card in <#{view.card_channel}>" if view.card_channel else ""
    reason = f" — “{esc(clip(view.reason, 120))}”" if view.reason else ""
    return (
        f"• *{esc(verb_title(view.verb))}* {esc(view.plan_name)} by {mention(view.requester)}{reason}\n"
        f"      {len(view.approvers)} of {view.approvals_required} approvals · expires {when(view.expires_at)}"
        f" · `{esc(view.request_id)}`{where}"
    )


def pending_approvals_message(
    views: Sequence[ApprovalCardView], *, page: int = 0, command: str | None = "approvals"
) -> Message:
    """``/vro approvals``: the requests still waiting, oldest first as given."""
    if not views:
        return Message(
            "Nothing is waiting for approval.",
            [section(":white_check_mark: Nothing is waiting for approval.")],
        )
    paged = page_of(len(views), page, APPROVALS_PAGE_SIZE)
    title = f"Waiting for approval ({plural(len(views), 'request')})"
    lines = (_pending_line(v) for v in views[paged.start : paged.end])
    return paged_list(title, lines, paged, "request", command=command)


class AuditLike(Protocol):
    """One audit log line (``bot.approvals.outcomes.AuditView`` fits)."""

    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def plan_name(self) -> str | None: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


def _detail_text(detail: Mapping[str, Any]) -> str:
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or value == {} or value == []:
            continue
        shown = ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return clip("; ".join(parts), 300)


def audit_message(
    entries: Sequence[AuditLike],
    *,
    plan_name: str | None = None,
    page: int = 0,
    command: str | None = "audit",
) -> Message:
    """``/vro audit [plan]``: newest first as given."""
    scope = f" of {plan_name}" if plan_name else ""
    if not entries:
        return Message(f"The audit log{scope} is empty.", [section(f"The audit log{esc(scope)} is empty.")])
    paged = page_of(len(entries), page, AUDIT_PAGE_SIZE)
    lines = []
    for entry in entries[paged.start : paged.end]:
        plan = f" *{esc(entry.plan_name)}*" if entry.plan_name and not plan_name else ""
        request = f" `{esc(entry.request_id)}`" if entry.request_id else ""
        detail = _detail_text(entry.detail)
        line = (
            f"• {when(entry.at)} {mention(entry.actor)} _{esc(entry.event.replace('_', ' '))}_{plan}{request}"
        )
        if detail:
            line += f"\n      {esc(detail)}"
        lines.append(line)
    title = f"Audit log{scope} ({plural(len(entries), 'entry', 'entries')})"
    return paged_list(title, lines, paged, "entry", command=command)
