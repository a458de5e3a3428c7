"""Times people type (``2026-11-27 14:00``, ``14:00``, ``tomorrow 09:30``, with or without a zone),
read as aware UTC datetimes; :func:`format_time` writes them back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from bot.slack.grammar.spec import TimeDirection

# ----------------------------------------------------------------------------------------------
# Times
# ----------------------------------------------------------------------------------------------


class TimeParseError(ValueError):
    """A time that could not be read, with a message for the user."""


_ZONE = r"(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
_CLOCK_RE = re.compile(
    r"^(?:(?P<day>today|tomorrow|yesterday)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*"
    + _ZONE
    + r"?$",
    re.IGNORECASE,
)
_WORD_ZONE_RE = re.compile(r"\s*\b(UTC|GMT)$", re.IGNORECASE)
_DAY_OFFSETS: Final = {"today": 0, "tomorrow": 1, "yesterday": -1}
_TIME_EXAMPLES: Final = "2026-11-27 14:00, 2026-11-27T14:00+02:00, 14:00 or tomorrow 09:30"
_MIN_YEAR, _MAX_YEAR = 1970, 2200


def _zone(text: str | None) -> timezone:
    if text is None or text.upper() in {"Z", "UTC", "GMT"}:
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise TimeParseError(f"“{text}” is not a UTC offset; write it like +02:00.")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_time(moment: datetime) -> str:
    """``2026-11-27 14:00 UTC``: how the bot shows a time back to people (naive times are UTC)."""
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S UTC" if utc.second else "%Y-%m-%d %H:%M UTC")


def parse_time(text: str, *, now: datetime, direction: TimeDirection | None = None) -> datetime:
    """Read a time as documented in the module docstring; the result is aware and in UTC.

    ``direction`` decides what a bare clock time means (the most recent one for PAST, the next
    one for FUTURE) and rejects times on the wrong side of ``now``. Raises ``TimeParseError``.
    """
    cleaned = " ".join(text.split())
    if not cleaned:
        raise TimeParseError(f"The time is empty. Try {_TIME_EXAMPLES}.")
    match = _CLOCK_RE.match(cleaned)
    try:
        moment = _clock_time(match, now=now, direction=direction) if match else _calendar_time(cleaned)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, TimeParseError):
            raise
        raise TimeParseError(
            f"I can't read “{cleaned}” as a time. Try {_TIME_EXAMPLES} (UTC unless you add an offset)."
        ) from None
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        raise TimeParseError(f"“{cleaned}” is too far from today to be meant.")
    moment = moment.astimezone(UTC)
    if direction is TimeDirection.PAST and moment > now + timedelta(minutes=1):
        raise TimeParseError(
            f"{format_time(moment)} is in the future; a restore point has to be in the past (it is {format_time(now)})."
        )
    if direction is TimeDirection.FUTURE and moment <= now:
        raise TimeParseError(
            f"{format_time(moment)} has already passed (it is {format_time(now)}); pick a later time."
        )
    return moment


def _clock_time(match: re.Match[str], *, now: datetime, direction: TimeDirection | None) -> datetime:
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise TimeParseError(f"“{match.string}” is not a time of day; use 24-hour HH:MM.")
    zone = _zone(match["zone"])
    local_now = now.astimezone(zone)
    moment = local_now.replace(hour=hour, minute=minute, second=second, microsecond=0)
    if match["day"]:
        return moment + timedelta(days=_DAY_OFFSETS[match["day"].lower()])
    if direction is TimeDirection.PAST and moment > now:
        moment -= timedelta(days=1)
    elif direction is TimeDirection.FUTURE and moment <= now:
        moment += timedelta(days=1)
    return moment


def _calendar_time(text: str) -> datetime:
    text = _WORD_ZONE_RE.sub("+00:00", text).replace(" +", "+").replace(" -", "-")
    slashed = re.match(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$", text)
    if slashed:  # VRO's own format: 2021/11/12T12:00:00
        year, month, day, rest = slashed.groups()
        text = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _looks_like_clock(text: str) -> bool:
    return re.match(r"^\d{1,2}:\d{2}(:\d{2})?(Z|[+-]\d{2}(:?\d{2})?)?$", text, re.IGNORECASE) is not None
