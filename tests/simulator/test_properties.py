"""Properties over generated estates: a failover driven by the fake clock stays coherent."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.clock import FakeClock
from bot.simulator import Estate, Simulator, create_simulator, default_estate, parse_estate
from tests.simulator.helpers import API, FreshToken

BASE = default_estate()
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def steps(draw: st.DrawFn, prefix: str, *, critical_errors: bool) -> list[dict[str, Any]]:
    out = []
    for s in range(draw(st.integers(1, 3))):
        outcomes = ["Success", "Warning", "Error"]
        outcome = draw(st.sampled_from(outcomes))
        critical = critical_errors and outcome == "Error" and draw(st.booleans())
        out.append(
            {
                "id": f"{prefix}-s{s}",
                "name": f"Step {s}",
                "duration": draw(st.sampled_from([0, 1, 2.5, 5, 10, 30])),
                "outcome": outcome,
                "isCritical": critical,
                "errorAttempts": 1,
            }
        )
    return out


@st.composite
def estates(draw: st.DrawFn, *, critical_errors: bool = False) -> Estate:
    groups: list[dict[str, Any]] = []
    for g in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 3)) == 0:
            groups.append(
                {
                    "id": f"g{g}",
                    "name": f"Virtual {g}",
                    "groupType": "VirtualGroup",
                    "steps": draw(steps(f"g{g}", critical_errors=critical_errors)),
                }
            )
            continue
        vms = [
            {
                "id": f"g{g}-v{v}",
                "name": f"vm {g}-{v}",
                "steps": draw(steps(f"g{g}-v{v}", critical_errors=critical_errors)),
            }
            for v in range(draw(st.integers(1, 4)))
        ]
        parallel = draw(st.booleans())
        groups.append(
            {
                "id": f"g{g}",
                "name": f"Group {g}",
                "isParallel": parallel,
                "parallelProcessingVmsCount": draw(st.integers(1, 3)) if parallel else 1,
                "vms": vms,
            }
        )
    data = BASE.model_dump(mode="json", exclude={"plans"})
    data["plans"] = [
        {
            "id": "p1",
            "name": "Generated",
            "planType": "Replica",
            "scopeId": BASE.scopes[0].id,
            "recoveryLocationId": BASE.recoveryLocations[0].id,
            "groups": groups,
        }
    ]
    return parse_estate(data)


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(API + path)
    assert response.status_code == 200, response.text
    return response.json()


def _counts(results: list[str]) -> tuple[int, int, int]:
    return (results.count("Success"), results.count("Warning"), results.count("Error"))


async def _check_consistency(sim: Simulator, client: httpx.AsyncClient) -> dict[str, Any]:
    """Read every level once and check that they agree; return the plan runtime."""
    spec = sim.estate.plans[0]
    plan: dict[str, Any] = await _get(client, "/RuntimeDetails/Plans/p1")
    groups = (await _get(client, "/RuntimeDetails/Plans/p1/Groups"))["data"]
    all_steps: list[dict[str, Any]] = []
    previous_groups_done = True
    for group_spec, group in zip(spec.groups, groups, strict=True):
        assert group["id"] == group_spec.id
        if group["executionState"] != "NotStarted":
            assert previous_groups_done, "a group started before the previous one finished"
        previous_groups_done = group["executionState"] in ("Completed", "Skipped")
        if group_spec.groupType == "VirtualGroup":
            steps = (await _get(client, f"/RuntimeDetails/Plans/p1/Groups/{group_spec.id}/Steps"))["data"]
            all_steps += steps
            results = [s["executionResult"]["result"] for s in steps]
            assert (group["successCount"], group["warningCount"], group["errorCount"]) == _counts(results)
            assert group["totalCount"] == len(steps)
            states = {s["executionState"] for s in steps}
        else:
            vms = (await _get(client, f"/RuntimeDetails/Plans/p1/Groups/{group_spec.id}"))["data"]
            assert group["totalCount"] == len(vms) == len(group_spec.vms)
            running = sum(1 for v in vms if v["executionState"] == "Running")
            assert running <= (group_spec.parallelProcessingVmsCount if group_spec.isParallel else 1)
            finished_results = []
            for vm_spec, vm in zip(group_spec.vms, vms, strict=True):
                steps = (await _get(client, f"/RuntimeDetails/Plans/p1/Vms/{vm_spec.id}/Steps"))["data"]
                all_steps += steps
                step_results = [s["executionResult"]["result"] for s in steps]
                assert (vm["successCount"], vm["warningCount"], vm["errorCount"]) == _counts(step_results)
                assert vm["totalCount"] == len(steps)
                step_states = {s["executionState"] for s in steps}
                if step_states == {"NotStarted"}:
                    assert vm["executionState"] == "NotStarted"
                if step_states == {"Completed"}:
                    assert vm["executionState"] == "Completed"
                    assert vm["progress"] == 100
                if "Running" in step_states:
                    assert vm["executionState"] == "Running"
                if vm["executionState"] in ("Completed", "Halted"):
                    finished_results.append(vm["executionResult"]["result"])
                assert sum(1 for s in steps if s["executionState"] == "Running") <= 1
            assert (group["successCount"], group["warningCount"], group["errorCount"]) == _counts(
                finished_results
            )
            states = {v["executionState"] for v in vms}
        if states == {"NotStarted"}:
            assert group["executionState"] == "NotStarted"
        if states <= {"Completed", "Skipped"} and "Completed" in states:
            assert group["executionState"] == "Completed"
            assert group["progress"] == 100
        if "Running" in states:
            assert group["executionState"] == "Running"
    errors = sum(1 for s in all_steps if s["executionResult"]["result"] == "Error")
    warnings = sum(1 for s in all_steps if s["executionResult"]["result"] == "Warning")
    assert plan["executionState"] == "NotStarted" or plan["resultName"].endswith(
        ("no errors" if errors == 0 else f"{errors} error" + ("s" if errors > 1 else ""))
        + ", "
        + ("no warnings" if warnings == 0 else f"{warnings} warning" + ("s" if warnings > 1 else ""))
    )
    for step in all_steps:
        assert 0 <= step["progress"] <= 100
        done = step["executionState"] == "Completed"
        assert (step["executionResult"]["finishTime"] is not None) == (
            step["executionState"] in ("Completed", "Halted")
        )
        assert (step["executionResult"]["result"] != "Undefined") == done
    if all(s["executionState"] == "Completed" for s in all_steps):
        assert plan["executionState"] in ("Completed", "Running", "Halted")
    return plan


def _run(estate: Estate, ticks: list[float]) -> list[dict[str, Any]]:
    async def scenario() -> list[dict[str, Any]]:
        clock = FakeClock()
        sim = create_simulator(clock=clock, estate=estate, config=None)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim),
            base_url="http://t",
            auth=FreshToken(sim),
        ) as client:
            seen = [await _check_consistency(sim, client)]
            assert (await client.post(f"{API}/Plans/p1/Failover")).status_code == 200
            seen.append(await _check_consistency(sim, client))
            for tick in [*ticks, 10_000.0]:
                clock.advance(tick)
                seen.append(await _check_consistency(sim, client))
        return seen

    return asyncio.run(scenario())


@SETTINGS
@given(estate=estates(), ticks=st.lists(st.sampled_from([0.5, 1, 2, 3, 7, 15]), max_size=12))
def test_failover_goes_ready_running_complete_with_coherent_rollups(
    estate: Estate, ticks: list[float]
) -> None:
    seen = _run(estate, ticks)
    states = [s["state"] for s in seen]
    assert states[0] == "Ready"
    assert states[-1] == "FailoverComplete"
    phases = [0 if s == "Ready" else 1 if s == "FailoverInProgress" else 2 for s in states]
    assert phases == sorted(phases)
    assert set(states) <= {"Ready", "FailoverInProgress", "FailoverComplete"}
    progress = [s["totalProgress"] for s in seen]
    assert progress == sorted(progress)
    assert progress[-1] == 100
    assert all(p < 100 for p, s in zip(progress, states, strict=True) if s == "FailoverInProgress")
    assert seen[-1]["executionState"] == "Completed"
    assert seen[-1]["isRunningState"] is False


@SETTINGS
@given(
    estate=estates(critical_errors=True),
    ticks=st.lists(st.sampled_from([0.5, 2, 5, 15]), max_size=8),
)
def test_failover_with_critical_failures_ends_halted_or_complete_coherently(
    estate: Estate, ticks: list[float]
) -> None:
    seen = _run(estate, ticks)
    final = seen[-1]
    critical = any(s.isCritical and s.outcome == "Error" for s in estate.plans[0].all_steps())
    assert final["state"] == ("Halted" if critical else "FailoverComplete")
    assert final["executionState"] == ("Halted" if critical else "Completed")
    progress = [s["totalProgress"] for s in seen]
    assert progress == sorted(progress)
