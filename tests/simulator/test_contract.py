"""Contract: RuntimeDetails carry exactly the keys (and JSON types) of the seed's samples."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator
from tests.simulator.helpers import API, act
from tests.simulator.seed import seed_samples

SAMPLES = seed_samples()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_same_shape(sample: Any, answer: Any, where: str = "$") -> None:
    """Every key of ``sample`` is in ``answer`` (and no other), recursively, with the same type."""
    if isinstance(sample, dict):
        assert isinstance(answer, dict), f"{where}: expected an object, got {answer!r}"
        assert set(answer) == set(sample), (
            f"{where}: missing {sorted(set(sample) - set(answer))}, extra {sorted(set(answer) - set(sample))}"
        )
        for key, value in sample.items():
            assert_same_shape(value, answer[key], f"{where}.{key}")
    elif isinstance(sample, list):
        assert isinstance(answer, list), f"{where}: expected an array, got {answer!r}"
        if sample:
            assert answer, f"{where}: the simulator's array is empty, the sample's is not"
            for position, item in enumerate(answer):
                assert_same_shape(sample[0], item, f"{where}[{position}]")
    elif sample is not None:
        assert _json_type(answer) == _json_type(sample), f"{where}: {answer!r} vs sample {sample!r}"


async def _finished_restore(sim: Simulator, http: httpx.AsyncClient, clock: FakeClock) -> str:
    plan_id = sim.plan_id("Finance DB Restore")
    assert (await act(http, plan_id, "Restore", {})).status_code == 200
    clock.advance(3600)
    return plan_id


async def test_plan_runtime_has_exactly_the_seed_fields(
    sim: Simulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    plan_id = await _finished_restore(sim, http, clock)
    answer = (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}")).json()
    assert_same_shape(SAMPLES["plan"], answer)
    assert answer["state"] == "RestoreComplete"
    assert answer["stateName"] == "Restored"
    assert answer["stateOrder"] == "300. Restored"
    assert answer["lastStableStateName"] == "Restore"
    assert answer["resultName"] == "Complete, no errors, 1 warning"


@pytest.mark.parametrize(
    ("sample", "path"),
    [
        ("groups", "/Groups"),
        ("group_vms", "/Groups/{vm_group}"),
        ("group_steps", "/Groups/{virtual_group}/Steps"),
        ("vm_steps", "/Vms/{vm}/Steps"),
        ("step", "/Steps/{step}"),
    ],
)
async def test_collections_have_exactly_the_seed_fields(
    sim: Simulator, http: httpx.AsyncClient, clock: FakeClock, sample: str, path: str
) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    assert (await act(http, plan_id, "Failover")).status_code == 200
    clock.advance(3600)
    spec = sim.plan(plan_id).spec
    vm_group = next(g for g in spec.groups if g.vms)
    virtual_group = next(g for g in spec.groups if g.steps)
    ids = {
        "vm_group": vm_group.id,
        "virtual_group": virtual_group.id,
        "vm": vm_group.vms[0].id,
        "step": vm_group.vms[0].steps[0].id,
    }
    answer = (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}{path.format(**ids)}")).json()
    assert_same_shape(SAMPLES[sample], answer)


async def test_runtime_of_a_plan_never_run_has_the_same_shape(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    """Before any run (and after a reboot) the fields are all there, with empty results."""
    plan_id = sim.plan_id("Web Frontend")
    answer = (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}")).json()
    assert set(answer) == set(SAMPLES["plan"])
    assert answer["executionState"] == "NotStarted"
    assert answer["executionResult"] == {
        "result": "Undefined",
        "details": [],
        "startTime": None,
        "finishTime": None,
    }
    groups = (await http.get(f"{API}/RuntimeDetails/Plans/{plan_id}/Groups")).json()["data"]
    assert {frozenset(g) for g in groups} == {frozenset(SAMPLES["groups"]["data"][0])}


def test_the_seed_parser_reads_six_samples() -> None:
    assert SAMPLES["plan"]["roles"] == ["DRSiteAdmin", "DRPlanAuthor", "DRPlanOperator"]
    assert SAMPLES["step"]["data"][0]["severity"] == "Success"
