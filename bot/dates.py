"""Dates people type on the command line: ``--since yesterday``, ``--since "3 days ago"``.

Pure: :func:`parse_since` takes the current time as an argument. Times without an offset are
UTC (the audit log's own time zone).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

SINCE_EXAMPLES: Final = (
    '2026-11-01, "2026-11-01 14:00", 2026-11-01T14:00+02:00, today, yesterday, monday, '
    '"3 days ago", "12 hours ago", 7d, 24h, "last week"'
)

_UNITS: Final = {
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
}
_AGO: Final = re.compile(r"^(\d+)\s*([a-z]+?)(?:\s+ago)?$")
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_since(text: str, *, now: datetime) -> datetime:
    """The moment ``text`` names, no later than ``now``; :class:`ValueError` saying what works.

    ``today`` / ``yesterday`` / a weekday are that day's midnight (UTC); ``N units ago`` and the
    short ``7d`` / ``24h`` / ``2w`` / ``30m`` count back from ``now``; ``last week`` is 7 days back;
    ISO dates and times are taken as written (UTC unless they carry an offset).
    """
    spoken = " ".join(text.strip().lower().split())
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if spoken in ("now",):
        return now
    if spoken == "today":
        return midnight
    if spoken == "yesterday":
        return midnight - timedelta(days=1)
    if spoken in ("last week", "a week ago"):
        return now - timedelta(weeks=1)
    if spoken in _WEEKDAYS:
        back = (midnight.weekday() - _WEEKDAYS.index(spoken)) % 7
        return midnight - timedelta(days=back)
    ago = _AGO.match(spoken)
    if ago and ago.group(2) in _UNITS:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date I know; try {SINCE_EXAMPLES}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
