"""``vro-bot report --since D [--format md|csv]``: the runs since a date, read from the audit log.

A run is a ``run_finished`` audit row (the watcher writes it with the summary: VRO's start and
end, the duration, the RTO target and whether it was met, the result and its warnings), joined
to its request's rows (who asked, who approved, any readiness warning the request carried).
Actions VRO accepted whose run has no summary yet are listed too, as not finished (only actions
that run: an enable or a clone never gets a summary). The report
is built from the hash-chained audit log, so it can be checked with ``vro-bot audit verify``.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import create_engine, pool, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.approvals.export import opened_output, require_schema
from bot.approvals.tables import AuditEntry
from bot.db import sync_url
from bot.vro.operations import NARRATED_ACTIONS

RUN_FINISHED = "run_finished"
CSV_FIELDS = (
    "plan",
    "action",
    "requested_by",
    "approved_by",
    "started_at",
    "duration_seconds",
    "rto_minutes",
    "rto_met",
    "result",
    "warnings",
)
_REQUEST_EVENTS = ("requested", "approved", "vro_accepted")


def record_run_finished(
    session: Session | AsyncSession,
    *,
    at: datetime,
    actor: str,
    request_id: str | None,
    plan_id: str,
    plan_name: str,
    detail: dict[str, Any],
) -> None:
    """Add the ``run_finished`` audit row (sealed into the chain when the transaction commits)."""
    session.add(
        AuditEntry(
            at=at,
            actor=actor,
            event=RUN_FINISHED,
            request_id=request_id,
            plan_id=plan_id,
            plan_name=plan_name,
            detail={k: v for k, v in detail.items() if v is not None},
        )
    )


class ReportError(Exception):
    """The report cannot run; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class RunLine:
    """One run in the report."""

    plan: str
    action: str
    requested_by: str
    approved_by: tuple[str, ...]
    started_at: datetime | None
    duration_seconds: int | None
    rto_minutes: int | None
    rto_met: bool | None
    result: str
    warnings: tuple[str, ...]


def run_report(database_url: str, *, since: datetime, fmt: str, output: str) -> int:
    """The command: 0 on success, 1 when there is nothing to read from."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    try:
        runs = read_runs(database_url, since=since)
        with opened_output(output, ReportError) as out:
            if fmt == "csv":
                write_csv(runs, out)
            else:
                out.write(markdown(runs, since=since))
    except ReportError as exc:
        sys.stderr.write(f"vro-bot: {exc}\n")
        return 1
    sys.stderr.write(f"{len(runs)} {'run' if len(runs) == 1 else 'runs'} since {since.isoformat()}.\n")
    return 0


def read_runs(database_url: str, *, since: datetime) -> list[RunLine]:
    """Every run that started (or, without a summary, was accepted) at or after ``since``."""
    require_schema(database_url, ReportError, nothing="there are no runs")
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with Session(engine) as session:
            finished = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.event == RUN_FINISHED, AuditEntry.at >= since)
                .order_by(AuditEntry.id)
            ).all()
            accepted = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.event == "vro_accepted", AuditEntry.at >= since)
                .order_by(AuditEntry.id)
            ).all()
            ids = {e.request_id for e in [*finished, *accepted] if e.request_id}
            history = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.request_id.in_(ids), AuditEntry.event.in_(_REQUEST_EVENTS))
                .order_by(AuditEntry.id)
            ).all()
    finally:
        engine.dispose()
    return build_runs(finished, accepted, history, since=since)


def build_runs(
    finished: Sequence[AuditEntry],
    accepted: Sequence[AuditEntry],
    history: Iterable[AuditEntry],
    *,
    since: datetime,
) -> list[RunLine]:
    """Join run summaries to their requests (pure; the entries are already read)."""
    by_request: dict[str, dict[str, AuditEntry]] = {}
    for entry in history:
        if entry.request_id:
            by_request.setdefault(entry.request_id, {})[entry.event] = entry
    accepted_at = {entry.request_id: entry.at for entry in accepted if entry.request_id}
    lines: list[RunLine] = []
    summarized: set[str] = set()
    for entry in finished:
        detail = dict(entry.detail)
        started = _started(
            entry, accepted_at.get(entry.request_id or ""), _int(detail.get("duration_seconds"))
        )
        if entry.request_id:
            summarized.add(entry.request_id)
        if started < since:
            continue
        request = by_request.get(entry.request_id or "", {})
        lines.append(
            RunLine(
                plan=entry.plan_name or entry.plan_id or "?",
                action=str(detail.get("action") or "?"),
                requested_by=_requester(request) or str(detail.get("requested_by") or "—"),
                approved_by=_approvers(request) or tuple(detail.get("approved_by") or ()),
                started_at=started,
                duration_seconds=_int(detail.get("duration_seconds")),
                rto_minutes=_int(detail.get("rto_minutes")),
                rto_met=detail.get("rto_met") if isinstance(detail.get("rto_met"), bool) else None,
                result=str(detail.get("result") or detail.get("state") or "?"),
                warnings=(*_readiness(request), *_run_warnings(detail)),
            )
        )
    for entry in accepted:
        if not entry.request_id or entry.request_id in summarized or entry.at < since:
            continue
        if str(entry.detail.get("action") or "") not in NARRATED_ACTIONS:
            continue  # enable, clone, schedule...: no run to follow, so never a summary
        request = by_request.get(entry.request_id, {})
        lines.append(
            RunLine(
                plan=entry.plan_name or entry.plan_id or "?",
                action=str(entry.detail.get("action") or "?"),
                requested_by=_requester(request) or "—",
                approved_by=_approvers(request),
                started_at=entry.at,
                duration_seconds=None,
                rto_minutes=None,
                rto_met=None,
                result="not finished (no summary yet)",
                warnings=_readiness(request),
            )
        )
    lines.sort(key=lambda line: line.started_at or since)
    return lines


def _started(finished: AuditEntry, accepted_at: datetime | None, duration_seconds: int | None) -> datetime:
    """When a run started, on the bot's clock: VRO accepting the action, else the summary's time
    less the run's duration. VRO's own start time is left alone: VRO's clock may be months off,
    and ``--since`` is a date on the operator's calendar."""
    if accepted_at is not None:
        return accepted_at
    return finished.at - timedelta(seconds=duration_seconds or 0)


def markdown(runs: Sequence[RunLine], *, since: datetime) -> str:
    """The runs as a Markdown table, with a heading and a count."""
    head = f"# Runs since {since.strftime('%Y-%m-%d %H:%M')} UTC\n\n"
    if not runs:
        return head + "No runs.\n"
    rows = [
        "| Plan | Action | Requested by | Approved by | Start (UTC) | Duration | RTO met | Result | Warnings |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        cells = (
            run.plan,
            run.action,
            run.requested_by,
            ", ".join(run.approved_by) or "—",
            run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "—",
            _duration(run.duration_seconds),
            _rto(run),
            run.result,
            "; ".join(run.warnings) or "—",
        )
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    met = sum(1 for r in runs if r.rto_met is True)
    judged = sum(1 for r in runs if r.rto_met is not None)
    tail = f"\n\n{len(runs)} runs; RTO met in {met} of {judged} with a target.\n" if judged else "\n"
    return head + "\n".join(rows) + tail


def write_csv(runs: Sequence[RunLine], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for run in runs:
        writer.writerow(
            {
                "plan": run.plan,
                "action": run.action,
                "requested_by": run.requested_by,
                "approved_by": " ".join(run.approved_by),
                "started_at": run.started_at.isoformat() if run.started_at else "",
                "duration_seconds": "" if run.duration_seconds is None else run.duration_seconds,
                "rto_minutes": "" if run.rto_minutes is None else run.rto_minutes,
                "rto_met": "" if run.rto_met is None else ("yes" if run.rto_met else "no"),
                "result": run.result,
                "warnings": "; ".join(run.warnings),
            }
        )


# --- helpers -----------------------------------------------------------------------------------


def _requester(request: dict[str, AuditEntry]) -> str | None:
    entry = request.get("requested")
    return entry.actor if entry else None


def _approvers(request: dict[str, AuditEntry]) -> tuple[str, ...]:
    entry = request.get("approved")
    return tuple(entry.detail.get("approvers") or ()) if entry else ()


def _readiness(request: dict[str, AuditEntry]) -> tuple[str, ...]:
    entry = request.get("requested")
    warning = entry.detail.get("readiness_warning") if entry else None
    return (f"readiness: {warning}",) if warning else ()


def _run_warnings(detail: dict[str, Any]) -> tuple[str, ...]:
    out = []
    for key, noun in (("errors", "error"), ("warnings", "warning")):
        count = _int(detail.get(key)) or 0
        if count:
            out.append(f"{count} {noun}{'' if count == 1 else 's'} in the run")
    return tuple(out)


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _rto(run: RunLine) -> str:
    if run.rto_met is None or run.rto_minutes is None or run.duration_seconds is None:
        return "—"
    margin = abs(run.rto_minutes * 60 - run.duration_seconds)
    verdict = "met" if run.rto_met else "missed"
    return f"{verdict} ({run.rto_minutes} min target, {'under' if run.rto_met else 'over'} by {_duration(margin)})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
