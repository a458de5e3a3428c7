"""``--since``: the dates people type, counted from an explicit "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.dates import parse_since

NOW = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)  # a Friday
MIDNIGHT = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "moment"),
    [
        ("today", MIDNIGHT),
        ("yesterday", MIDNIGHT - timedelta(days=1)),
        ("  Yesterday ", MIDNIGHT - timedelta(days=1)),
        ("friday", MIDNIGHT),
        ("monday", MIDNIGHT - timedelta(days=4)),
        ("3 days ago", NOW - timedelta(days=3)),
        ("12 hours ago", NOW - timedelta(hours=12)),
        ("1 week ago", NOW - timedelta(weeks=1)),
        ("last week", NOW - timedelta(weeks=1)),
        ("7d", NOW - timedelta(days=7)),
        ("24h", NOW - timedelta(hours=24)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01 14:00", datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),
        ("2026-11-01T14:00+02:00", datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))),
    ],
)
def test_natural_and_iso_dates_are_accepted(typed: str, moment: datetime) -> None:
    assert parse_since(typed, now=NOW) == moment


@pytest.mark.parametrize("typed", ["last tuesdy", "3 fortnights ago", "", "soon"])
def test_anything_else_is_refused_with_examples(typed: str) -> None:
    with pytest.raises(ValueError, match="yesterday"):
        parse_since(typed, now=NOW)
