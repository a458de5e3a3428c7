"""Times as VRO writes them, and as people read them.

VRO's reference writes times without an offset: ``PUT .../Schedule/SaveTime?startTime=
2021/11/12T12:00:00`` (docs/vro/rest/put_method.html) and ``"restorePointDate":
"YYYY-MM-DDT00:00:00"`` [DOC]. Such a time means the VRO server's wall clock, so the bot reads
and writes them in ``VRO_TIMEZONE`` (default UTC). Times that carry an offset or ``Z`` (the
RuntimeDetails samples do) are taken as written. Inside the bot every time is aware and in UTC;
people always see the zone (``2026-11-27 14:00 UTC``).

Pure: no I/O, no settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BODY_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"  # "restorePointDate": "YYYY-MM-DDT00:00:00" [DOC]
QUERY_TIME_FORMAT: Final = "%Y/%m/%dT%H:%M:%S"  # ?startTime=2021/11/12T12:00:00 [DOC]


def zone_named(name: str) -> tzinfo:
    """The zone ``VRO_TIMEZONE`` names (``UTC``, ``Europe/Berlin``); :class:`ValueError` if unknown."""
    text = name.strip()
    if text.upper() in ("UTC", "Z", "GMT", ""):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone name; use an IANA name such as UTC or Europe/Berlin"
        ) from None


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone (e.g. 2026-01-01T12:00:00+00:00)")
    return moment


def to_vro_time(moment: datetime, zone: tzinfo, *, what: str = "the time") -> str:
    """``2026-11-27T15:00:00``: ``moment`` on VRO's wall clock, offset-less, as in a JSON body."""
    return _aware(moment, what).astimezone(zone).strftime(BODY_TIME_FORMAT)


def to_vro_query_time(moment: datetime, zone: tzinfo, *, what: str = "the time") -> str:
    """``2026/11/27T15:00:00``: the documented query-string form, on VRO's wall clock."""
    return _aware(moment, what).astimezone(zone).strftime(QUERY_TIME_FORMAT)


def from_vro(moment: datetime, zone: tzinfo) -> datetime:
    """An aware UTC time for a time VRO sent; an offset-less one is read in ``zone``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def show(moment: datetime, zone: tzinfo = UTC) -> str:
    """``2026-11-27 14:00 UTC``: always with its zone, never a bare wall-clock time."""
    local = from_vro(moment, UTC).astimezone(zone)
    name = "UTC" if zone is UTC else (local.tzname() or str(zone))
    return local.strftime("%Y-%m-%d %H:%M ") + name


__all__ = [
    "BODY_TIME_FORMAT",
    "QUERY_TIME_FORMAT",
    "from_vro",
    "show",
    "to_vro_query_time",
    "to_vro_time",
    "zone_named",
]
