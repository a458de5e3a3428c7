"""The guardrail rules beyond "N approvers" (pure: no I/O, no clock; ``now`` is a parameter).

- :func:`readiness`: is the plan's readiness proven recently enough for ``require_check``?
- :func:`match_approvers`: do the approvals so far fill every group of ``approvals.all_of``,
  counting each person once even when they hold several of the roles?
- :func:`rto_verdict`: did a run finish within the plan's ``rto_minutes``?

What VRO tells us about readiness, and what is inferred (DESIGN §4, reference/vro-api-notes §3.6,
§5): ``GET /Plans/{id}`` carries ``currentCheckResult`` (``Success`` / ``Warning`` / ``Error`` /
``Undefined``) and ``lastCheckTime``; RuntimeDetails carries ``currentCheckResult`` but no time.
Inferred, not documented: ``Undefined`` or no ``lastCheckTime`` means no check has run since the
plan was created or reset; ``Warning`` is a passed check (VRO still marks the plan verified) and
is shown as such; an offset-less ``lastCheckTime`` is in the VRO server's time zone. The age of
a check is VRO's time of the check against the bot's clock: a VRO clock running behind makes
checks look older (the gate refuses: it fails closed); one running ahead makes them look younger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

CHECK_PASSED = frozenset({"success", "warning"})
CHECK_FAILED = frozenset({"error", "failed", "failure"})


class CheckMode(StrEnum):
    """What ``require_check`` does when readiness is not proven."""

    REFUSE = "refuse"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class CheckRule:
    """``require_check: {max_age_hours: 24, mode: refuse}``."""

    max_age_hours: float = 24.0
    mode: CheckMode = CheckMode.REFUSE

    @property
    def max_age(self) -> timedelta:
        return timedelta(hours=self.max_age_hours)


class Readiness(StrEnum):
    """Where a plan stands against a readiness rule."""

    PROVEN = "proven"  # a passed check, younger than the limit
    NEVER = "never"  # no check on record
    FAILED = "failed"  # the last check failed
    STALE = "stale"  # the last check passed, but longer ago than the limit
    RUNNING = "running"  # a check is running now; its result is not in yet


@dataclass(frozen=True, slots=True)
class ReadinessVerdict:
    """The gate's finding, with what it was based on (for the card and the audit log)."""

    state: Readiness
    result: str | None
    checked_at: datetime | None
    age: timedelta | None
    max_age: timedelta

    @property
    def ok(self) -> bool:
        return self.state is Readiness.PROVEN

    def describe(self) -> str:
        """One sentence for a person: what is wrong with the plan's readiness."""
        limit = _hours(self.max_age)
        if self.state is Readiness.PROVEN:
            return f"The last readiness check passed {_ago(self.age)}."
        if self.state is Readiness.RUNNING:
            return "A readiness check is running now; its result is not in yet."
        if self.state is Readiness.NEVER:
            return "No readiness check has run on this plan."
        if self.state is Readiness.FAILED:
            return f"The last readiness check failed ({self.result}) {_ago(self.age)}."
        return f"The last readiness check passed {_ago(self.age)}, longer ago than the {limit} this action allows."

    def audit(self) -> dict[str, Any]:
        """The verdict as audit detail."""
        return {
            "readiness": str(self.state),
            "check_result": self.result,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "max_age_hours": self.max_age.total_seconds() / 3600,
        }


def readiness(
    *,
    check_result: str | None,
    checked_at: datetime | None,
    check_running: bool,
    rule: CheckRule,
    now: datetime,
    vro_timezone: tzinfo = UTC,
) -> ReadinessVerdict:
    """Judge the plan's last readiness check (``currentCheckResult``, ``lastCheckTime``) at ``now``."""
    if checked_at is not None and checked_at.tzinfo is None:
        checked_at = checked_at.replace(tzinfo=vro_timezone)
    age = max(now - checked_at, timedelta(0)) if checked_at is not None else None
    result = (check_result or "").strip() or None
    outcome = (result or "").lower()
    if check_running:
        state = Readiness.RUNNING
    elif checked_at is None or outcome in ("", "undefined", "none"):
        state = Readiness.NEVER
    elif outcome not in CHECK_PASSED:
        state = Readiness.FAILED
    elif age is not None and age > rule.max_age:
        state = Readiness.STALE
    else:
        state = Readiness.PROVEN
    return ReadinessVerdict(state=state, result=result, checked_at=checked_at, age=age, max_age=rule.max_age)


# --- approvals from distinct groups ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupNeed:
    """``{role: dr_lead, count: 1}``: this many approvals from holders of ``role``."""

    role: str
    count: int


@dataclass(frozen=True, slots=True)
class Matching:
    """Who fills which group (each person at most once), and what is still missing."""

    assigned: Mapping[str, tuple[str, ...]]
    missing: Mapping[str, int]
    open_roles: tuple[str, ...] = ()  # roles whose holder, approving next, would count

    @property
    def complete(self) -> bool:
        return not any(self.missing.values())

    @property
    def filled(self) -> int:
        return sum(len(users) for users in self.assigned.values())

    def missing_text(self) -> str:
        """``dr_lead (1), app_owner (1)``; ``1 more from dr_lead or app_owner`` when someone who
        holds both could move to either group; an empty string when complete."""
        short = [role for role, n in self.missing.items() if n]
        if not short:
            return ""
        if set(short) == set(self.open_roles):
            return ", ".join(f"{role} ({self.missing[role]})" for role in short)
        more = sum(self.missing.values())
        return f"{more} more from " + " or ".join(self.open_roles)

    def needed_text(self) -> str:
        """What the request still needs, as the end of a sentence: ``approval from app_owner (1)``,
        ``1 more approval from dr_lead or app_owner``, or ``nothing more``."""
        text = self.missing_text()
        if not text:
            return "nothing more"
        if " more from " in text:
            more, _, roles = text.partition(" more from ")
            return f"{more} more {'approval' if more == '1' else 'approvals'} from {roles}"
        return f"approval from {text}"


def match_approvers(needs: Sequence[GroupNeed], approvers: Sequence[tuple[str, frozenset[str]]]) -> Matching:
    """A largest assignment of approvers to group slots, each approver to one slot at most.

    ``approvers`` are (user, roles held at click time) in click order. A greedy pass is wrong:
    with ``dr_lead`` and ``app_owner`` needed, someone holding both who clicks first must not
    take ``dr_lead`` if the next approver holds only ``dr_lead``. This is a maximum bipartite
    matching (Kuhn's augmenting paths; the sizes here are tiny), earlier clicks tried first.
    """
    slots: list[str] = [need.role for need in needs for _ in range(need.count)]
    slot_of_user: dict[str, int] = {}
    user_of_slot: dict[int, str] = {}
    roles = dict(approvers)

    def augment(user: str, seen: set[int]) -> bool:
        for index, role in enumerate(slots):
            if role not in roles[user] or index in seen:
                continue
            seen.add(index)
            holder = user_of_slot.get(index)
            if holder is None or augment(holder, seen):
                user_of_slot[index] = user
                slot_of_user[user] = index
                return True
        return False

    for user, _ in approvers:
        if user not in slot_of_user:
            augment(user, set())
    assigned: dict[str, list[str]] = {need.role: [] for need in needs}
    for user, _ in approvers:  # click order within each group
        if user in slot_of_user:
            assigned[slots[slot_of_user[user]]].append(user)
    filled = len(slot_of_user)
    open_roles: list[str] = []
    if filled < len(slots):
        for need in needs:
            # Would a newcomer holding only this role count? (Someone may have to move over.)
            saved = (dict(slot_of_user), dict(user_of_slot))
            roles[_NEWCOMER] = frozenset({need.role})
            if augment(_NEWCOMER, set()):
                open_roles.append(need.role)
            slot_of_user, user_of_slot = saved
            del roles[_NEWCOMER]
    return Matching(
        assigned={role: tuple(users) for role, users in assigned.items()},
        missing={need.role: need.count - len(assigned[need.role]) for need in needs},
        open_roles=tuple(open_roles),
    )


_NEWCOMER = "\x00newcomer"


# --- recovery time objective ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RtoVerdict:
    """A run's duration against its target."""

    duration: timedelta
    target: timedelta

    @property
    def met(self) -> bool:
        return self.duration <= self.target

    @property
    def margin(self) -> timedelta:
        """How much time was left (met) or how much too long it took (missed)."""
        return abs(self.target - self.duration)


def rto_verdict(duration: timedelta, rto_minutes: int | None) -> RtoVerdict | None:
    """``None`` when no target applies."""
    if rto_minutes is None:
        return None
    return RtoVerdict(duration=duration, target=timedelta(minutes=rto_minutes))


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours == int(hours):
        return f"{int(hours)} hour" + ("" if hours == 1 else "s")
    return f"{hours:g} hours"


def _ago(age: timedelta | None) -> str:
    if age is None:
        return "at an unknown time"
    seconds = int(age.total_seconds())
    if seconds < 90:
        return "just now"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} minutes ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hours ago"
    return f"{hours // 24} days ago"
