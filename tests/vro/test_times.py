"""Times as VRO writes them: offset-less on the server's clock (VRO_TIMEZONE), shown with a zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import SimulatorConfig, create_simulator
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.vro.models import Plan, PlanRuntimeDetails
from bot.vro.times import from_vro, show, to_vro_query_time, to_vro_time, zone_named

SAP = "fbac4d86-303b-5be2-a4c7-6a5b4cccdf5e"
BERLIN = ZoneInfo("Europe/Berlin")


def test_times_sent_are_offset_less_on_vros_clock() -> None:
    moment = datetime(2030, 1, 2, 14, 0, tzinfo=UTC)  # 15:00 in Berlin (winter, +01:00)
    assert to_vro_time(moment, BERLIN) == "2030-01-02T15:00:00"
    assert to_vro_query_time(moment, BERLIN) == "2030/01/02T15:00:00"
    assert to_vro_time(moment, UTC) == "2030-01-02T14:00:00"
    with pytest.raises(ValueError, match="time zone"):
        to_vro_time(datetime(2030, 1, 2, 14, 0), BERLIN)  # noqa: DTZ001 - the naive case under test


def test_times_read_without_an_offset_are_vros_wall_clock_and_others_are_kept() -> None:
    assert from_vro(datetime(2030, 7, 1, 12, 0), BERLIN) == datetime(2030, 7, 1, 10, 0, tzinfo=UTC)  # noqa: DTZ001
    with_offset = datetime(2030, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert from_vro(with_offset, BERLIN) == datetime(2030, 7, 1, 17, 0, tzinfo=UTC)


def test_models_read_offset_less_times_in_the_zone_given_at_parse_time() -> None:
    body = b'{"id": "p", "name": "P", "lastRunTime": "2030-07-01T12:00:00", "lastTestTime": "2030-07-01T12:00:00Z"}'
    berlin = Plan.model_validate_json(body, context={"vro_zone": BERLIN})
    assert berlin.lastRunTime == datetime(2030, 7, 1, 10, 0, tzinfo=UTC)
    assert berlin.lastTestTime == datetime(2030, 7, 1, 12, 0, tzinfo=UTC)
    assert Plan.model_validate_json(body).lastRunTime == datetime(2030, 7, 1, 12, 0, tzinfo=UTC)


def test_people_always_see_the_zone() -> None:
    moment = datetime(2030, 7, 1, 10, 0, tzinfo=UTC)
    assert show(moment) == "2030-07-01 10:00 UTC"
    assert show(moment, BERLIN) == "2030-07-01 12:00 CEST"


def test_an_unknown_zone_name_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="IANA name"):
        zone_named("Mars/Olympus")
    assert zone_named("utc") is UTC


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata"])
async def test_offset_less_times_round_trip_through_vro_in_a_non_utc_zone(
    clock: FakeClock, zone: str
) -> None:
    """Scheduled at 14:00 UTC: VRO is told its own wall-clock time without an offset, writes the
    schedule back the same way, and the bot reads 14:00 UTC again."""
    sim = create_simulator(clock=clock, config=SimulatorConfig(timezone=zone))
    start = (clock.now() + timedelta(days=30)).replace(hour=14, minute=0, second=0, microsecond=0)
    async with VroClient(
        base_url="http://vro.test",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        zone=ZoneInfo(zone),
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
        retry=RetryPolicy.never(),
    ) as vro:
        await vro.schedule_at(SAP, start)
        plan = await vro.get_plan(SAP)
    (sent,) = [r for r in sim.requests if r.method in ("PUT", "POST") and "Schedule" in r.path]
    wall = start.astimezone(ZoneInfo(zone))
    assert sent.query == f"startTime={wall:%Y}%2F{wall:%m}%2F{wall:%d}T{wall:%H}%3A{wall:%M}%3A00"
    assert plan.schedule is not None
    assert plan.schedule.startTime == start
    raw = sim.core.plans[SAP].schedule
    assert raw is not None
    assert raw.start_time == start  # the simulator understood VRO's wall clock too


@pytest.mark.parametrize("zone", [BERLIN, ZoneInfo("America/New_York"), UTC], ids=["east", "west", "utc"])
@pytest.mark.parametrize(
    "sentinel", ["0001-01-01T00:00:00", "9999-12-31T23:59:59.9999999"], ids=["min", "max"]
)
def test_dotnets_min_and_max_times_read_as_no_time_in_any_zone(zone: tzinfo, sentinel: str) -> None:
    """VRO is .NET: a time never set may come as DateTime.MinValue (or MaxValue). Read in a zone
    east (or west) of UTC it fell outside Python's years and raised OverflowError, which is not a
    validation error: every poll of the run failed and nobody in the channel was told."""
    body = json.dumps(
        {
            "id": SAP,
            "name": "SAP",
            "state": "FailoverInProgress",
            "executionResult": {
                "result": "Undefined",
                "startTime": "2030-07-01T12:00:00",
                "finishTime": sentinel,
            },
        }
    )
    plan = PlanRuntimeDetails.model_validate_json(body, context={"vro_zone": zone})
    assert plan.executionResult is not None
    assert plan.executionResult.finishTime is None
    assert plan.executionResult.startTime == from_vro(datetime(2030, 7, 1, 12, 0), zone)  # noqa: DTZ001
