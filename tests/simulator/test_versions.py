"""The simulator serves each VRO release's path versions with that version's differences."""

from __future__ import annotations

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import SimulatorConfig, create_simulator
from bot.simulator.app import served_versions
from bot.simulator.serve import run_simulator
from bot.vro.operations import KNOWN_API_VERSIONS, RELEASE_VERSIONS

SAP = "fbac4d86-303b-5be2-a4c7-6a5b4cccdf5e"
FINANCE = "57ac200f-e4c4-5e0a-a17d-568347418728"


def test_api_version_names_a_release_or_an_exact_list() -> None:
    assert served_versions("v13.1") == ("v7.21", "v13", "v13.1")
    assert served_versions("13.2") == ("v13", "v13.1", "v13.2")
    assert served_versions("v7.21,v13") == ("v7.21", "v13")
    with pytest.raises(ValueError, match="not a VRO API version"):
        served_versions("latest")


def test_a_bad_api_version_stops_the_simulator_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_simulator(port=0, api_version="v99.x") == 2
    assert "not a VRO API version" in capsys.readouterr().err


def test_the_default_serves_every_known_version(clock: FakeClock) -> None:
    assert set(create_simulator(clock=clock).api_versions) == set(KNOWN_API_VERSIONS)


@pytest.mark.parametrize(
    ("release", "method", "path", "status"),
    [
        ("v7.21", "GET", "/api/v7.21/Clients", 200),
        ("v13.2", "GET", "/api/v13.2/Clients", 404),
        ("v7.21", "POST", f"/api/v7.21/Plans/{FINANCE}/MalwareScan", 404),
        ("v13", "POST", f"/api/v13/Plans/{FINANCE}/MalwareScan", 200),
        ("v7.21", "POST", f"/api/v7.21/Plans/{SAP}/ResetChangeLog", 400),  # route exists; plan is Enabled
        ("v13", "POST", f"/api/v13/Plans/{SAP}/ResetChangeLog", 404),
        ("v13", "PUT", f"/api/v13/Plans/{SAP}/Schedule/SaveTime?startTime=2030/01/02T03:04:00", 200),
        ("v13.1", "PUT", f"/api/v13.1/Plans/{SAP}/Schedule/SaveTime?startTime=2030/01/02T03:04:00", 405),
        ("v13.1", "POST", f"/api/v13.1/Plans/{SAP}/Schedule/SaveTime?startTime=2030/01/02T03:04:00", 200),
        ("v13.2", "GET", f"/api/v7.21/Plans/{SAP}", 404),
    ],
)
async def test_each_release_has_its_own_routes(
    clock: FakeClock, release: str, method: str, path: str, status: int
) -> None:
    sim = create_simulator(clock=clock, config=SimulatorConfig(api_versions=RELEASE_VERSIONS[release]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://vro.test") as http:
        response = await http.request(
            method, path, headers={"Authorization": f"Bearer {sim.token('administrator')}"}
        )
    assert response.status_code == status, response.text
    if status == 404:
        assert "No HTTP resource was found" in response.json()["Message"]
