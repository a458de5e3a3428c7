"""What a finished run amounts to, for the summary's RTO line and the audit log (pure).

The duration is VRO's own: from the run's start to its finish as VRO reports them; without
both, the bot's own first sight of the run to now. The two clocks are never mixed. It is compared with the
plan's ``rto_minutes`` from the policy (per plan, else the default): met, or missed by how much.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.approvals.rules import RtoVerdict, rto_verdict
from bot.slack.blocks.kit import duration
from bot.vro import plan_states as ps
from bot.watcher.snapshot import Snapshot, reported_issues

# Runs that recover something: the ones an RTO is about (not checks, halts or clean-ups).
RECOVERY_ACTIONS = frozenset(
    {ps.FAILOVER, ps.PERMANENT_FAILOVER, ps.FAILBACK_TO_PRODUCTION, ps.SWITCHOVER_TO_PRODUCTION, ps.RESTORE}
)


def rto_applies(action: str | None) -> bool:
    """Whether a run of ``action`` is measured against the plan's RTO."""
    return action in RECOVERY_ACTIONS


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One finished run: VRO's times and verdict, the counts, the RTO verdict."""

    started_at: datetime | None
    finished_at: datetime | None
    state: str
    result: str
    outcome: str
    warnings: int
    errors: int
    rto_minutes: int | None
    rto: RtoVerdict | None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def audit_detail(self) -> dict[str, Any]:
        """The ``run_finished`` audit row's detail (read back by ``vro-bot report``)."""
        span = self.duration
        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": int(span.total_seconds()) if span is not None else None,
            "rto_minutes": self.rto_minutes,
            "rto_met": self.rto.met if self.rto else None,
            "state": self.state,
            "result": self.result,
            "outcome": self.outcome,
            "warnings": self.warnings,
            "errors": self.errors,
        }


def run_span(snapshot: Snapshot, *, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The run's start and end on ONE clock: VRO's own start and finish when it gave both, else
    the bot's first sight of the run and ``now``. VRO's clock may be hours off the bot's, so a
    start on one and an end on the other would make a 10-minute run last hours (or less than
    nothing)."""
    plan = snapshot.plan
    if plan is not None and plan.started_at and plan.finished_at and plan.finished_at >= plan.started_at:
        return plan.started_at, plan.finished_at
    if snapshot.seen_at is not None:
        return snapshot.seen_at, max(now, snapshot.seen_at)
    return None, None


def run_record(snapshot: Snapshot, *, now: datetime, rto_minutes: int | None) -> RunRecord:
    """The finished run seen in ``snapshot``; ``now`` ends a run VRO gave no finish time."""
    plan = snapshot.plan
    start, end = run_span(snapshot, now=now)
    issues = reported_issues(snapshot)
    errors = sum(1 for _, issue in issues if issue.severity == "Error")
    span = end - start if start is not None and end is not None else None
    return RunRecord(
        started_at=start,
        finished_at=end,
        state=plan.state_name if plan else "",
        result=(plan.result_name or plan.result or "") if plan else "",
        outcome=(plan.result or "").lower() if plan else "",
        warnings=len(issues) - errors,
        errors=errors,
        rto_minutes=rto_minutes,
        rto=rto_verdict(span, rto_minutes) if span is not None else None,
    )


def rto_line(rto: RtoVerdict) -> str:
    """``RTO 30m 00s: met, 4m 10s to spare`` / ``RTO 30m 00s: missed by 12m 03s``."""
    target = duration(rto.target.total_seconds())
    if rto.met:
        return f"🎯 RTO {target}: *met*, {duration(rto.margin.total_seconds())} to spare"
    return f"⏱️ RTO {target}: *missed* by {duration(rto.margin.total_seconds())}"
