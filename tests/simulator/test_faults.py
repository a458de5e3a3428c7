"""Injected faults, the admin API, the request log, and a simulated VRO restart."""

from __future__ import annotations

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, create_simulator
from bot.simulator.app import SimulatorConfig
from tests.simulator.helpers import API, act, items, runtime


async def test_next_n_errors_then_normal_service(http: httpx.AsyncClient, sim: Simulator) -> None:
    sim.faults.fail_next("/api/v7.21/Plans", 2, status=503)
    first = await http.get(f"{API}/Plans")
    second = await http.get(f"{API}/plans")
    third = await http.get(f"{API}/Plans")
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json() == {"Message": "An error has occurred."}
    assert (await http.get(f"{API}/Scopes")).status_code == 200


async def test_fault_patterns_are_globs_and_may_name_a_method(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.faults.fail_next("*/runtimedetails/*", 1, status=500, method="GET")
    plan_id = sim.plan_id("SAP Tier1")
    assert (await act(http, plan_id, "ReadinessCheck")).status_code == 200  # POST: not matched
    assert (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}")).status_code == 500
    assert (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}")).status_code == 200


async def test_error_rate_one_always_fails_zero_never(http: httpx.AsyncClient, sim: Simulator) -> None:
    sim.faults.error_rate("/api/v7.21/Scopes", 1.0, status=502)
    assert {(await http.get(f"{API}/Scopes")).status_code for _ in range(5)} == {502}
    sim.faults.clear()
    sim.faults.error_rate("/api/v7.21/Scopes", 0.0)
    assert {(await http.get(f"{API}/Scopes")).status_code for _ in range(5)} == {200}


async def test_error_rate_is_seeded_and_roughly_honoured(clock: FakeClock) -> None:
    outcomes = []
    for _ in range(2):
        sim = create_simulator(clock=clock, config=SimulatorConfig(fault_seed=7))
        sim.faults.error_rate("/api/token", 0.5)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://t") as client:
            codes = [
                (await client.post("/api/token", data={"grant_type": "password"})).status_code
                for _ in range(40)
            ]
        outcomes.append(codes)
    assert outcomes[0] == outcomes[1]
    assert 8 <= outcomes[0].count(500) <= 32


async def test_latency_waits_on_the_clock(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    sim.faults.add_latency("/api/v7.21/Plans*", 1.5)
    before = clock.now()
    assert (await http.get(f"{API}/Plans")).status_code == 200
    assert clock.sleeps == [1.5]
    assert (clock.now() - before).total_seconds() == 1.5
    assert (await http.get(f"{API}/Scopes")).status_code == 200
    assert clock.sleeps == [1.5]
    assert sim.requests[-2].latency == 1.5


async def test_request_log_records_calls_without_secrets(http: httpx.AsyncClient, sim: Simulator) -> None:
    sim.clear_requests()
    await http.get(f"{API}/Plans", params={"limit": "1"})
    sim.faults.fail_next("/api/v7.21/Scopes")
    await http.get(f"{API}/Scopes")
    log = sim.requests
    assert [(r.method, r.path, r.status, r.fault) for r in log] == [
        ("GET", f"{API}/Plans", 200, False),
        ("GET", f"{API}/Scopes", 500, True),
    ]
    assert log[0].query == "limit=1"
    assert log[0].user == "vro-bot"
    assert "Bearer" not in repr(log)


async def test_reboot_clears_runtime_details_and_tokens(
    sim: Simulator, anon: httpx.AsyncClient, clock: FakeClock
) -> None:
    headers = {"Authorization": f"Bearer {sim.token()}"}
    finished, running = sim.plan_id("Web Frontend Cache"), sim.plan_id("SAP Tier1")
    for plan_id in (finished, running):
        assert (await anon.post(f"{API}/Plans/{plan_id}/Failover", headers=headers)).status_code == 200
    clock.advance(120)
    sim.reboot()
    assert (await anon.get(f"{API}/Plans", headers=headers)).status_code == 401
    headers = {"Authorization": f"Bearer {sim.token()}"}
    done = (await anon.get(f"{API}/RuntimeDetails/Plans/{finished}", headers=headers)).json()
    assert done["state"] == "FailoverComplete"  # plans live in the database: the state survives
    assert done["executionState"] == "NotStarted"
    assert done["executionResult"]["details"] == []
    groups = (await anon.get(f"{API}/RuntimeDetails/Plans/{finished}/Groups", headers=headers)).json()["data"]
    assert {g["executionState"] for g in groups} == {"NotStarted"}
    stopped = (await anon.get(f"{API}/RuntimeDetails/Plans/{running}", headers=headers)).json()
    assert stopped["state"] == "Halted"
    assert stopped["totalProgress"] == 0


async def test_continue_after_reboot_starts_the_operation_over(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Web Frontend")
    await act(http, plan_id, "Failover")
    clock.advance(30)
    sim.reboot()
    response = await act(http, plan_id, "Continue", {"executionContinueOptions": "RetryFailedStep"})
    assert response.status_code == 200
    assert (await runtime(http, plan_id))["state"] == "FailoverInProgress"
    clock.advance(4 * 3600)
    assert (await runtime(http, plan_id))["state"] == "FailoverComplete"


async def test_admin_api_controls_the_same_knobs(
    anon: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    headers = {"Authorization": f"Bearer {sim.token()}"}
    assert (
        await anon.post("/__sim/faults", json={"path": "/api/v7.21/Scopes", "count": 1, "status": 504})
    ).status_code == 200
    assert (await anon.get(f"{API}/Scopes", headers=headers)).status_code == 504
    assert (
        await anon.post("/__sim/faults", json={"path": "/api/v7.21/Scopes", "rate": 1})
    ).status_code == 200
    assert (await anon.get(f"{API}/Scopes", headers=headers)).status_code == 500
    assert (await anon.delete("/__sim/faults")).status_code == 204
    assert (await anon.get(f"{API}/Scopes", headers=headers)).status_code == 200

    assert (await anon.post("/__sim/latency", json={"path": "*", "seconds": 2})).status_code == 200
    await anon.get(f"{API}/Scopes", headers=headers)
    assert clock.sleeps == [2.0]
    assert (await anon.delete("/__sim/latency")).status_code == 204

    log = (await anon.get("/__sim/requests")).json()
    assert [entry["status"] for entry in log][-4:] == [504, 500, 200, 200]
    assert (await anon.delete("/__sim/requests")).status_code == 204
    assert (await anon.get("/__sim/requests")).json() == []

    assert (await anon.post("/__sim/expire-tokens")).status_code == 204
    assert (await anon.get(f"{API}/Scopes", headers=headers)).status_code == 401

    plan_id = sim.plan_id("Web Frontend")
    step = sim.plan(plan_id).spec.groups[0].vms[0].steps[1]
    set_step = {
        "planId": plan_id,
        "stepId": step.id,
        "outcome": "Error",
        "isCritical": True,
        "message": "boom",
    }
    assert (await anon.post("/__sim/steps", json=set_step)).status_code == 204
    assert sim.plan(plan_id).spec.groups[0].vms[0].steps[1].outcome == "Error"
    forced = await anon.post(
        f"/__sim/plans/{plan_id}/state", json={"state": "FailoverComplete", "mode": "InUse"}
    )
    assert forced.status_code == 204
    state = (await anon.get("/__sim/state")).json()
    entry = next(p for p in state["plans"] if p["id"] == plan_id)
    assert (entry["state"], entry["mode"]) == ("FailoverComplete", "InUse")

    assert (await anon.post("/__sim/reboot")).status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/__sim/faults", {"path": "/x"}),
        ("POST", "/__sim/faults", {"path": "/x", "rate": 2}),
        ("POST", "/__sim/faults", {"path": "/x", "count": 1, "status": 200}),
        ("POST", "/__sim/faults", {"path": "/x", "count": 1, "status": None}),
        ("POST", "/__sim/faults", [1, 2]),
        ("POST", "/__sim/latency", {"path": "/x"}),
        ("POST", "/__sim/latency", {"path": "/x", "seconds": -1}),
        ("POST", "/__sim/steps", {"planId": "SAP Tier1", "stepId": "nope", "outcome": "Error"}),
        ("POST", "/__sim/steps", {"planId": "SAP Tier1", "stepId": "x", "outcome": "Meh"}),
        ("POST", "/__sim/plans/SAP Tier1/state", {"state": "FailoverInProgress"}),
    ],
)
async def test_admin_api_rejects_bad_input_with_400(
    anon: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await anon.request(method, path, json=body)
    assert response.status_code == 400
    assert response.json()["Message"]


async def test_unknown_admin_endpoint_is_404(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/__sim/nothing")).status_code == 404


async def test_faults_never_touch_the_admin_api(anon: httpx.AsyncClient, sim: Simulator) -> None:
    sim.faults.error_rate("*", 1.0)
    assert (await anon.get("/__sim/state")).status_code == 200


async def test_step_outcome_set_in_process_makes_a_plan_halt(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Web Frontend Cache")
    step = sim.plan(plan_id).spec.groups[0].vms[0].steps[0]
    sim.set_step_outcome("Web Frontend Cache", step.id, "Error", critical=True, message="License expired")
    await act(http, plan_id, "Failover")
    clock.advance(3600)
    info = await runtime(http, plan_id)
    assert info["state"] == "Halted"
    vm_steps = await items(
        http, f"/RuntimeDetails/Plans/{plan_id}/Vms/{sim.plan(plan_id).spec.groups[0].vms[0].id}/Steps"
    )
    assert vm_steps[0]["executionResult"]["details"][-1]["friendlyInfo"] == "License expired"
