"""What a finished run amounts to, for the summary's RTO line and the audit log (pure).

The duration is VRO's own: from the run's start to its finish as VRO reports them (the bot's
clock stands in for the end only while VRO has not reported a finish). It is compared with the
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


def run_record(snapshot: Snapshot, *, now: datetime, rto_minutes: int | None) -> RunRecord:
    """The finished run seen in ``snapshot``; ``now`` ends a run VRO gave no finish time."""
    plan = snapshot.plan
    start = snapshot.run_started_at or (plan.started_at if plan else None)
    end: datetime | None = None
    if start is not None:
        end = plan.finished_at if plan and plan.finished_at and plan.finished_at >= start else now
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
