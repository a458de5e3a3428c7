"""Where an action request is in its life, and what a decision on it is (pure: the store, the
cards and the views share these)."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    """Where an action request is in its life.

    ``pending`` -> ``approved`` (quorum met) -> ``executing`` (claimed by exactly one process)
    -> ``executed`` / ``failed`` / ``outcome_unknown``; or ``pending`` -> ``denied`` /
    ``cancelled`` / ``expired``.
    """

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    OUTCOME_UNKNOWN = "outcome_unknown"


class DecisionKind(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
