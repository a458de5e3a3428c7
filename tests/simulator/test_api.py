"""The REST surface: every read operation, the envelope and queries, and the error answers."""

from __future__ import annotations

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, create_simulator
from bot.simulator.app import SimulatorConfig
from bot.vro.models import (
    GroupRuntimeDetails,
    LicenseUsage,
    Page,
    Plan,
    PlanGroup,
    PlanStep,
    PlanVm,
    RecoveryLocation,
    Scope,
    StepParameter,
    YaraRule,
)
from tests.simulator.helpers import API, act, items, q

UNKNOWN = "00000000-0000-4000-8000-000000000001"


async def test_plans_collection_parses_and_counts(http: httpx.AsyncClient, sim: Simulator) -> None:
    response = await http.get(f"{API}/Plans")
    page = Page[Plan].model_validate(response.json())
    assert page.total == len(sim.estate.plans) == len(page.data)
    assert {p.planType for p in page.data} == {"Replica", "CdpReplica", "Restore", "Storage", "Cloud"}


async def test_paths_are_case_insensitive(http: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    for path in (f"/API/V7.21/plans/{plan_id}", f"/api/v7.21/PLANS/{plan_id.upper()}"):
        response = await http.get(path)
        assert response.status_code == 200
        assert response.json()["name"] == "SAP Tier1"


async def test_only_enabled(http: httpx.AsyncClient) -> None:
    plans = await items(http, "/Plans", onlyEnabled="true")
    assert plans
    assert all(p["planMode"] == "Enabled" for p in plans)
    assert "SAP Tier1 DR Test" not in {p["name"] for p in plans}


async def test_filter_and_sort_apply_before_paging(http: httpx.AsyncClient) -> None:
    response = await http.get(
        f"{API}/Plans",
        params={
            "filter": q([{"property": "planType", "operator": "==", "value": "replica"}]),
            "sort": q([{"property": "name", "direction": "DESC"}]),
            "start": "1",
            "limit": "2",
        },
    )
    body = response.json()
    replicas = sorted(
        (p["name"] for p in await items(http, "/Plans") if p["planType"] == "Replica"), reverse=True
    )
    assert body["total"] == len(replicas)
    assert [p["name"] for p in body["data"]] == replicas[1:3]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"property": "name", "operator": "like", "value": "SAP*"}, {"SAP Tier1", "SAP Tier1 DR Test"}),
        (
            {"property": "name", "operator": "like", "value": "frontend"},
            {"Web Frontend", "Web Frontend Cache"},
        ),
        (
            {"property": "planType", "operator": "in", "value": ["Storage", "Cloud"]},
            {"File Servers Storage", "Azure Cloud Restore"},
        ),
        (
            {
                "operator": "&&",
                "value": [
                    {"property": "planType", "operator": "==", "value": "Restore"},
                    {"property": "siteScopeName", "operator": "!=", "value": "Admin Scope"},
                ],
            },
            {"Finance DB Restore", "Payroll Restore"},
        ),
        (
            {
                "operator": "||",
                "items": [
                    {"property": "name", "operator": "==", "value": "crm replica"},
                    {"property": "targetRPO", "operator": "<", "value": 5},
                ],
            },
            {"CRM Replica", "Exchange Failover"},
        ),
        ({"property": "targetRTO", "operator": ">", "value": 60}, {"Finance DB Restore"}),
        ({"property": "schedule.type", "operator": "==", "value": "OnTime"}, set()),
    ],
)
async def test_filter_operators(http: httpx.AsyncClient, expression: object, expected: set[str]) -> None:
    plans = await items(http, "/Plans", filter=q([expression]))
    assert {p["name"] for p in plans} == expected


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        q({"property": "name"}),
        q([{"property": "name", "operator": "~=", "value": "x"}]),
        q([{"property": "nosuchfield", "operator": "==", "value": "x"}]),
        q([{"property": "name", "operator": "in", "value": "x"}]),
        q([{"operator": "&&", "value": []}]),
        q([{"property": "name", "operator": ">", "value": {"a": 1}}]),
        q(["name"]),
    ],
)
async def test_malformed_filters_are_400_with_a_message(http: httpx.AsyncClient, bad: str) -> None:
    response = await http.get(f"{API}/Plans", params={"filter": bad})
    assert response.status_code == 400
    assert response.json()["Message"].startswith("The request is invalid:")


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "[{"},
        {"sort": q([{"property": "name", "direction": "UP"}])},
        {"sort": q([{"direction": "ASC"}])},
        {"start": "-1"},
        {"limit": "ten"},
        {"onlyEnabled": "maybe"},
    ],
)
async def test_malformed_sort_and_paging_are_400(http: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await http.get(f"{API}/Plans", params=params)
    assert response.status_code == 400
    assert response.json()["Message"]


async def test_multi_key_sort(http: httpx.AsyncClient) -> None:
    plans = await items(
        http,
        "/Plans",
        sort=q([{"property": "planType", "direction": "ASC"}, {"property": "name", "direction": "DESC"}]),
    )
    keys = [(p["planType"].lower(), p["name"]) for p in plans]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    for kind in {k[0] for k in keys}:
        names = [k[1] for k in keys if k[0] == kind]
        assert names == sorted(names, key=str.casefold, reverse=True)


async def test_plan_contents_parse_into_the_models(http: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    plan = Plan.model_validate((await http.get(f"{API}/Plans/{plan_id}")).json())
    assert plan.planMode == "Enabled"
    assert plan.state == "Ready"
    assert plan.recoveryLocationName == "DR Site B"
    groups = Page[PlanGroup].model_validate((await http.get(f"{API}/Plans/{plan_id}/Groups")).json())
    assert [g.order for g in groups.data] == list(range(1, len(groups.data) + 1))
    vm_group = next(g for g in groups.data if g.groupType == "VmGroup")
    virtual = next(g for g in groups.data if g.groupType == "VirtualGroup")
    vms = Page[PlanVm].model_validate(
        (await http.get(f"{API}/Plans/{plan_id}/Groups/{vm_group.id}/Vms")).json()
    )
    assert vms.total >= 1
    vsteps = Page[PlanStep].model_validate(
        (await http.get(f"{API}/Plans/{plan_id}/Groups/{virtual.id}/Steps")).json()
    )
    assert vsteps.total >= 1
    steps = Page[PlanStep].model_validate(
        (await http.get(f"{API}/Plans/{plan_id}/Vms/{vms.data[0].id}/Steps")).json()
    )
    assert steps.total >= 3
    params = Page[StepParameter].model_validate(
        (await http.get(f"{API}/Plans/{plan_id}/Steps/{steps.data[1].id}/Parameters")).json()
    )
    assert params.total >= 1
    vparams = await items(http, f"/Plans/{plan_id}/Steps/{vsteps.data[0].id}/Parameters")
    assert vparams


async def test_locations_scopes_yara_and_license(http: httpx.AsyncClient, sim: Simulator) -> None:
    locations = Page[RecoveryLocation].model_validate((await http.get(f"{API}/RecoveryLocations")).json())
    assert {loc.type for loc in locations.data} >= {"Restore", "Storage"}
    one = RecoveryLocation.model_validate(
        (await http.get(f"{API}/RecoveryLocations/{locations.data[0].id}")).json()
    )
    assert one == locations.data[0]
    scopes = Page[Scope].model_validate((await http.get(f"{API}/Scopes")).json())
    admin = next(s for s in scopes.data if s.isDefault)
    assert Scope.model_validate((await http.get(f"{API}/Scopes/{admin.id}")).json()) == admin
    rules = Page[YaraRule].model_validate((await http.get(f"{API}/Scopes/{admin.id}/YaraRules")).json())
    assert rules.total >= 1
    server = LicenseUsage.model_validate((await http.get(f"{API}/License/Usage/Server")).json())
    scoped = LicenseUsage.model_validate((await http.get(f"{API}/License/Usage/Scopes/{admin.id}")).json())
    assert 0 < scoped.managedInstances < server.managedInstances
    assert server.managedInstances >= 40


async def test_runtime_collections_parse(http: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("Web Frontend")
    page = Page[GroupRuntimeDetails].model_validate(
        (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}/Groups")).json()
    )
    assert all(g.executionState == "NotStarted" for g in page.data)
    assert (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}/Groups", params={"limit": "1"})).json()[
        "total"
    ] == page.total


@pytest.mark.parametrize(
    "path",
    [
        "/Plans/{unknown}",
        "/Plans/not-a-guid",
        "/Plans/{plan}/Groups/{unknown}/Vms",
        "/Plans/{plan}/Groups/{unknown}/Steps",
        "/Plans/{plan}/Vms/{unknown}/Steps",
        "/Plans/{plan}/Steps/{unknown}/Parameters",
        "/RecoveryLocations/{unknown}",
        "/Scopes/{unknown}",
        "/Scopes/{unknown}/YaraRules",
        "/License/Usage/Scopes/{unknown}",
        "/RuntimeDetails/Plans/{unknown}",
        "/RuntimeDetails/Plans/{plan}/Groups/{unknown}",
        "/RuntimeDetails/Plans/{plan}/Groups/{unknown}/Steps",
        "/RuntimeDetails/Plans/{plan}/Vms/{unknown}/Steps",
        "/RuntimeDetails/Plans/{plan}/Steps/{unknown}",
        "/NoSuchThing",
    ],
)
async def test_unknown_ids_are_404_with_a_message(http: httpx.AsyncClient, sim: Simulator, path: str) -> None:
    url = API + path.format(unknown=UNKNOWN, plan=sim.plan_id("SAP Tier1"))
    response = await http.get(url)
    assert response.status_code == 404
    assert response.json()["Message"]


async def test_unknown_plan_in_an_action_is_404(http: httpx.AsyncClient) -> None:
    response = await act(http, UNKNOWN, "Failover", {})
    assert response.status_code == 404
    assert response.json() == {"Message": f"Plan with id '{UNKNOWN}' was not found."}


async def test_unsupported_version_and_method(http: httpx.AsyncClient, sim: Simulator) -> None:
    assert (await http.get("/api/v6/Plans")).status_code == 404
    response = await http.put(f"{API}/Plans")
    assert response.status_code == 405
    assert "PUT" in response.json()["Message"]


async def test_unknown_action_segment_is_404(http: httpx.AsyncClient, sim: Simulator) -> None:
    assert (await act(http, sim.plan_id("SAP Tier1"), "Explode")).status_code == 404


async def test_everything_under_the_api_needs_a_token(anon: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    for method, path in (
        ("GET", "/Plans"),
        ("GET", f"/Plans/{plan_id}"),
        ("POST", f"/Plans/{plan_id}/Failover"),
        ("GET", f"/RuntimeDetails/Plans/{plan_id}"),
        ("GET", "/License/Usage/Server"),
        ("GET", "/Clients"),
    ):
        response = await anon.request(method, API + path)
        assert response.status_code == 401, path
    assert sim.plan("SAP Tier1").state == "Ready"


async def test_other_api_versions_can_be_served(clock: FakeClock) -> None:
    sim = create_simulator(clock=clock, config=SimulatorConfig(api_versions=("v7.2", "v7.21")))
    headers = {"Authorization": f"Bearer {sim.token()}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://t") as client:
        assert (await client.get("/api/v7.2/Plans", headers=headers)).status_code == 200
