"""VRO_API_VERSION: negotiation, an explicit version, and every command on v7.21 and v13.x.

Each simulator serves what a VRO release serves (vro-api-notes.md: 7.2.1 serves v7.1, v7.2,
v7.21; 13.1 serves v7.21, v13, v13.1; 13.2 serves v13, v13.1, v13.2), with the differences the
action table records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, SimulatorConfig, create_simulator
from bot.vro.actions import perform
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.vro.errors import VroNotAvailable, VroNotFound, VroRejected
from bot.vro.operations import ACTIONS, KNOWN_API_VERSIONS, RELEASE_VERSIONS, PlanAction, spec_of

SAP = "fbac4d86-303b-5be2-a4c7-6a5b4cccdf5e"  # Replica, Enabled, Ready
FINANCE = "57ac200f-e4c4-5e0a-a17d-568347418728"  # Restore, Enabled, Ready
WEB = "8a69766c-31ba-57dc-84a6-beeb121d3f85"


def simulator(clock: FakeClock, versions: tuple[str, ...]) -> Simulator:
    return create_simulator(clock=clock, config=SimulatorConfig(api_versions=versions))


def client(sim: Simulator, clock: FakeClock, api_version: str = "auto") -> VroClient:
    return VroClient(
        base_url="http://vro.test",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        api_version=api_version,
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
        retry=RetryPolicy.never(),
    )


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (RELEASE_VERSIONS["v7.21"], "v7.21"),
        (RELEASE_VERSIONS["v13"], "v13"),
        (RELEASE_VERSIONS["v13.1"], "v13.1"),
        (RELEASE_VERSIONS["v13.2"], "v13.2"),
        (KNOWN_API_VERSIONS, "v13.2"),
    ],
    ids=["only-7.2.1", "13.0", "13.1", "only-13.2", "all"],
)
async def test_auto_uses_the_newest_version_the_server_answers(
    clock: FakeClock, served: tuple[str, ...], expected: str
) -> None:
    """Probed once: later requests go straight to the chosen version."""
    sim = simulator(clock, served)
    async with client(sim, clock) as vro:
        assert vro.api_version is None
        plan = await vro.get_plan(SAP)
        assert vro.api_version == expected
        sim.clear_requests()
        await vro.get_plan(plan.id)
    assert [r.path for r in sim.requests] == [f"/api/{expected}/Plans/{SAP}"]


async def test_a_v7_21_only_bot_breaks_on_13_2_but_auto_does_not(clock: FakeClock) -> None:
    """The issue's report: VRO 13.2 says 'No HTTP resource was found' to /api/v7.21."""
    sim = simulator(clock, RELEASE_VERSIONS["v13.2"])
    async with client(sim, clock, "v7.21") as fixed:
        with pytest.raises(
            VroNotFound, match=r"does not serve REST API v7\.21.*VRO_API_VERSION=auto"
        ) as caught:
            await fixed.get_plans()
        assert "/api/v7.21/Plans'. Set VRO_API_VERSION=auto" in str(caught.value)  # one full stop
    async with client(sim, clock) as negotiated:
        assert (await negotiated.get_plans()).total > 0


async def test_an_explicit_version_wins_and_is_never_probed(clock: FakeClock) -> None:
    sim = simulator(clock, KNOWN_API_VERSIONS)
    async with client(sim, clock, "13.1") as vro:
        assert vro.api_version == "v13.1"
        await vro.get_plan(SAP)
    assert [r.path for r in sim.requests if r.path != "/api/token"] == [f"/api/v13.1/Plans/{SAP}"]


async def test_an_upgrade_under_a_running_bot_is_followed_after_the_first_404(clock: FakeClock) -> None:
    """VRO 7.2.1 becomes 13.2: the next 404 makes the bot probe again and retry on v13.2."""
    sim = simulator(clock, RELEASE_VERSIONS["v7.21"])
    async with client(sim, clock) as vro:
        await vro.get_plan(SAP)
        assert vro.api_version == "v7.21"
        sim.serve_versions(RELEASE_VERSIONS["v13.2"])
        plan = await vro.get_plan(SAP)
        assert plan.id == SAP
        assert vro.api_version == "v13.2"


async def test_a_404_for_an_unknown_plan_does_not_renegotiate(clock: FakeClock) -> None:
    """One cheap check that the version still answers; the 404 stands and the version stays."""
    sim = simulator(clock, KNOWN_API_VERSIONS)
    async with client(sim, clock) as vro:
        await vro.negotiate()
        sim.clear_requests()
        with pytest.raises(VroNotFound, match="could not find plan"):
            await vro.get_plan("00000000-0000-0000-0000-000000000000")
        with pytest.raises(VroNotFound):
            await vro.get_plan("00000000-0000-0000-0000-000000000000")
        assert vro.api_version == "v13.2"
    probes = [r for r in sim.requests if r.path.endswith("/Plans") and "limit=1" in r.query]
    assert len(probes) == 1  # the second 404 within RECHECK_VERSION_SECONDS costs no probe


def _params(action: PlanAction, now: datetime) -> dict[str, Any]:
    params: dict[PlanAction, dict[str, Any]] = {
        PlanAction.CONTINUE: {"option": "ProceedToNextVm"},
        PlanAction.SCHEDULE_AT: {"start_time": now + timedelta(days=1)},
        PlanAction.SCHEDULE_AFTER: {"previous_plan_id": WEB},
    }
    return params.get(action, {})


@pytest.mark.parametrize("release", ["v7.21", "v13.2"])
@pytest.mark.parametrize("action", [row.action for row in ACTIONS], ids=[row.action.value for row in ACTIONS])
async def test_every_command_is_sent_as_the_table_says_or_refused_as_not_available(
    clock: FakeClock, release: str, action: PlanAction
) -> None:
    """On each release every action reaches VRO's route for it (VRO may still refuse the plan's
    state), or, where that release lacks it, is refused by name with nothing sent."""
    sim = simulator(clock, RELEASE_VERSIONS[release])
    spec = spec_of(action)
    plan = FINANCE if action in (PlanAction.RESTORE, PlanAction.MALWARE_SCAN) else SAP
    async with client(sim, clock) as vro:
        await vro.negotiate()
        sim.clear_requests()
        if not spec.available_on(release):
            with pytest.raises(VroNotAvailable, match=f"{spec.label} is not available on VRO"):
                await perform(vro, action, plan, _params(action, clock.now()))
            assert sim.requests == []
            return
        try:
            result = await perform(vro, action, plan, _params(action, clock.now()))
            status = result.status_code
        except VroRejected as refused:  # the plan's state forbids it: the route exists
            status = refused.status or 0
        assert status in (200, 204, 400), status
    wire = spec.wire_for(release)
    sent = [r for r in sim.requests if r.method != "GET" and r.path != "/api/token"]
    assert [(r.method, r.path) for r in sent] == [
        (wire.method, f"/api/{release}/Plans/{plan}/" + "/".join(wire.segments))
    ]


async def test_scan_runs_on_13_and_is_not_available_on_7_2_1(clock: FakeClock) -> None:
    modern = simulator(clock, RELEASE_VERSIONS["v13"])
    async with client(modern, clock) as vro:
        assert (await vro.malware_scan(FINANCE)).status_code == 200
        assert (await vro.get_plan(FINANCE)).state == "MalwareScanInProgress"
    old = simulator(clock, RELEASE_VERSIONS["v7.21"])
    async with client(old, clock) as vro:
        with pytest.raises(VroNotAvailable) as caught:
            await vro.malware_scan(FINANCE)
    assert str(caught.value) == (
        "Malware scan is not available on VRO 7.2.1 (REST API v7.21): it needs VRO 13 or later."
    )


async def test_schedule_at_is_a_post_from_13_1(clock: FakeClock) -> None:
    sim = simulator(clock, RELEASE_VERSIONS["v13.1"])
    async with client(sim, clock) as vro:
        await vro.schedule_at(SAP, datetime(2030, 1, 2, 3, 4, tzinfo=UTC))
    (sent,) = [r for r in sim.requests if r.method != "GET" and r.path != "/api/token"]
    assert (sent.method, sent.path) == ("POST", f"/api/v13.1/Plans/{SAP}/Schedule/SaveTime")


async def test_api_clients_are_refused_from_13_without_a_request(clock: FakeClock) -> None:
    sim = simulator(clock, RELEASE_VERSIONS["v13.2"])
    async with client(sim, clock) as vro:
        await vro.negotiate()
        sim.clear_requests()
        with pytest.raises(VroNotAvailable, match=r"API clients are not available on VRO 13\.2"):
            await vro.list_clients()
    assert sim.requests == []


class _UnknownVersionsAnswer(httpx.AsyncBaseTransport):
    """The simulator, except that a version it does not serve is answered with ``status``.

    VRO documents only 200, 400, 401 and 500 and nothing of unknown paths: a fake (or a proxy in
    front of VRO) may well answer a version it does not serve with 400 or 500 and a message.
    """

    def __init__(self, sim: Simulator, status: int) -> None:
        self._inner = httpx.ASGITransport(app=sim)
        self._sim = sim
        self._status = status

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")
        if len(parts) > 3 and parts[2] != "token" and parts[2] not in self._sim.api_versions:
            return httpx.Response(self._status, json={"Message": "An error has occurred."})
        return await self._inner.handle_async_request(request)


def _answering(sim: Simulator, clock: FakeClock, status: int) -> VroClient:
    return VroClient(
        base_url="http://vro.test",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        transport=_UnknownVersionsAnswer(sim, status),
        clock=clock,
        retry=RetryPolicy.never(),
    )


@pytest.mark.parametrize("status", [400, 405, 500])
@pytest.mark.parametrize("release", ["v7.21", "v13", "v13.1"])
async def test_auto_finds_the_version_whatever_the_answer_to_an_unknown_one(
    clock: FakeClock, release: str, status: int
) -> None:
    sim = simulator(clock, RELEASE_VERSIONS[release])
    async with _answering(sim, clock, status) as vro:
        assert await vro.negotiate() == release
        assert (await vro.get_plan(SAP)).id == SAP


async def test_an_upgrade_is_followed_when_the_old_version_answers_500(clock: FakeClock) -> None:
    sim = simulator(clock, RELEASE_VERSIONS["v7.21"])
    async with _answering(sim, clock, 500) as vro:
        assert await vro.negotiate() == "v7.21"
        sim.serve_versions(RELEASE_VERSIONS["v13.2"])
        assert (await vro.get_plan_runtime(SAP)).id == SAP
        assert vro.api_version == "v13.2"


async def test_an_action_answered_500_by_a_version_gone_is_not_sent_again(clock: FakeClock) -> None:
    """A 500 may come from an action VRO began: the version is renegotiated, the action not resent."""
    sim = simulator(clock, RELEASE_VERSIONS["v7.21"])
    async with _answering(sim, clock, 500) as vro:
        assert await vro.negotiate() == "v7.21"
        sim.serve_versions(RELEASE_VERSIONS["v13.2"])
        sim.clear_requests()
        with pytest.raises(VroRejected, match="An error has occurred"):
            await vro.enable_plan(WEB)
        assert vro.api_version == "v13.2"
    assert [r for r in sim.requests if r.method == "POST" and r.path != "/api/token"] == []


async def test_a_page_instead_of_json_is_not_a_version(clock: FakeClock) -> None:
    """A web front end that answers any path with its page does not make v13.2 "served"."""
    sim = simulator(clock, RELEASE_VERSIONS["v13.1"])
    inner = httpx.ASGITransport(app=sim)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v13.2/"):
            return httpx.Response(200, text="<html>Veeam Recovery Orchestrator</html>")
        return await inner.handle_async_request(request)

    async with VroClient(
        base_url="http://vro.test",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        transport=httpx.MockTransport(handler),
        clock=clock,
        retry=RetryPolicy.never(),
    ) as vro:
        assert await vro.negotiate() == "v13.1"
