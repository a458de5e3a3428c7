"""Plan actions: bodies, state checks, and how runs unfold on the clock."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, create_simulator
from bot.simulator.app import SimulatorConfig
from bot.vro import plan_states as ps
from tests.simulator.helpers import API, act, items, plan, runtime

LONG = 4 * 3600  # longer than any default plan takes


# --- refusals -------------------------------------------------------------------------------


async def test_failover_of_a_disabled_plan_is_400_naming_the_state(
    http: httpx.AsyncClient, sim: Simulator
) -> None:
    response = await act(http, sim.plan_id("SAP Tier1 DR Test"), "Failover", {})
    assert response.status_code == 400
    assert response.json() == {
        "Message": "Failover is not possible while plan 'SAP Tier1 DR Test' is Disabled; enable it first."
    }
    assert sim.plan("SAP Tier1 DR Test").state == ps.READY


async def test_continue_of_a_plan_that_is_not_halted_is_400(http: httpx.AsyncClient, sim: Simulator) -> None:
    response = await act(
        http, sim.plan_id("Web Frontend"), "Continue", {"executionContinueOptions": "RetryFailedStep"}
    )
    assert response.status_code == 400
    assert "halted" in response.json()["Message"]
    assert "Ready" in response.json()["Message"]


async def test_restore_of_a_replica_plan_is_400(http: httpx.AsyncClient, sim: Simulator) -> None:
    response = await act(http, sim.plan_id("SAP Tier1"), "Restore", {})
    assert response.status_code == 400
    assert "Replica plan" in response.json()["Message"]
    assert "Ready" in response.json()["Message"]


async def test_failover_of_a_running_plan_is_400_naming_the_state(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Web Frontend")
    assert (await act(http, plan_id, "Failover")).status_code == 200
    clock.advance(5)
    second = await act(http, plan_id, "Failover")
    assert second.status_code == 400
    assert "Failover in progress" in second.json()["Message"]


async def test_illegal_action_status_is_configurable(clock: FakeClock) -> None:
    sim = create_simulator(clock=clock, config=SimulatorConfig(illegal_action_status=409))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim),
        base_url="http://t",
        headers={"Authorization": f"Bearer {sim.token()}"},
    ) as client:
        response = await act(client, sim.plan_id("SAP Tier1 DR Test"), "Failover")
        assert response.status_code == 409


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("Failover", b"{oops"),
        ("Failover", b"[1, 2]"),
        ("Failover", b'{"executeChainedPlans": "perhaps"}'),
        ("Failover", b'{"restorePointDate": "yesterday"}'),
        ("Failover", b'{"restorePointDate": 42}'),
        ("Halt", b'{"fullStop": 1}'),
        ("Continue", b"{}"),
        ("Continue", b'{"executionContinueOptions": "Sideways"}'),
        ("Clone", b'{"name": 7}'),
        ("ResetState", b'{"executeReadinessCheck": null, "x": 1, "EXECUTEREADINESSCHECK": "no"}'),
    ],
)
async def test_malformed_bodies_are_400_never_500(
    http: httpx.AsyncClient, sim: Simulator, action: str, body: bytes
) -> None:
    response = await http.post(
        f"{API}/Plans/{sim.plan_id('SAP Tier1')}/{action}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["Message"]


async def test_restore_validates_location_and_yara_rule(http: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("Finance DB Restore")
    unknown = await act(
        http, plan_id, "Restore", {"restoreLocationId": "00000000-0000-4000-8000-000000000009"}
    )
    assert unknown.status_code == 400
    assert "Recovery location" in unknown.json()["Message"]
    not_guid = await act(http, plan_id, "Restore", {"restoreLocationId": "DR Site B"})
    assert not_guid.status_code == 400
    yara_without_rule = await act(http, plan_id, "Restore", {"yaraScan": True})
    assert yara_without_rule.status_code == 400
    admin_rule = sim.estate.scopes[0].yaraRules[0].id  # Finance DB Restore lives in Finance Scope
    wrong_scope = await act(http, plan_id, "Restore", {"yaraScan": True, "yaraRuleId": admin_rule})
    assert wrong_scope.status_code == 400
    assert sim.plan(plan_id).state == ps.READY


async def test_restore_point_in_the_future_is_refused(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    later = (clock.now() + timedelta(days=1)).isoformat()
    response = await act(http, sim.plan_id("SAP Tier1"), "Failover", {"restorePointDate": later})
    assert response.status_code == 400


# --- bodies in any casing -------------------------------------------------------------------


async def test_body_keys_in_any_casing(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    plan_id = sim.plan_id("Finance DB Restore")
    location = sim.estate.recoveryLocations[1].id
    rule = sim.estate.scopes[1].yaraRules[0].id
    response = await act(
        http,
        plan_id,
        "Restore",
        {
            "RESTORELOCATIONID": location,
            "executechainedplans": "false",
            "RestorePointDate": (clock.now() - timedelta(hours=3)).strftime("%Y/%m/%dT%H:%M:%S"),
            "virusScan": True,
            "YaraScan": True,
            "yaraRuleID": rule,
        },
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    details = (await runtime(http, plan_id))["executionResult"]["details"]
    text = " ".join(d["friendlyInfo"] for d in details)
    assert "DR Site B" in text
    assert "viruses" in text
    assert "Restore point" in text


# --- a run on the clock -----------------------------------------------------------------------


async def test_failover_runs_to_completion_in_simulated_time(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    assert (await act(http, plan_id, "Failover", {"executeChainedPlans": False})).status_code == 200
    started = await runtime(http, plan_id)
    assert started["state"] == "FailoverInProgress"
    assert started["isRunningState"] is True
    assert started["isStableState"] is False
    assert started["executionState"] == "Running"
    seen = [started["totalProgress"]]
    for _ in range(200):
        clock.advance(10)
        seen.append((await runtime(http, plan_id))["totalProgress"])
        if seen[-1] == 100:
            break
    assert seen == sorted(seen)
    done = await runtime(http, plan_id)
    assert done["state"] == "FailoverComplete"
    assert done["executionState"] == "Completed"
    assert done["isUndoPossible"] is True
    assert done["isReversePossible"] is True
    assert done["currentRunResult"] == "Warning"
    assert done["resultName"] == "Complete, no errors, 1 warning"
    info = await plan(http, plan_id)
    assert info["planMode"] == "InUse"
    assert info["lastStableState"] == "FailoverComplete"
    assert info["previousExecutionState"] == "Ready"


async def test_sequential_group_runs_vms_one_by_one_parallel_group_in_slots(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    spec = sim.plan(plan_id).spec
    databases, app_servers = spec.groups[0], spec.groups[1]
    assert not databases.isParallel
    assert app_servers.parallelProcessingVmsCount == 3
    await act(http, plan_id, "Failover")
    clock.advance(1)
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{databases.id}")
    assert [v["executionState"] for v in vms] == ["Running", "NotStarted"]
    groups = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups")
    assert [g["executionState"] for g in groups] == ["Running", "NotStarted", "NotStarted", "NotStarted"]
    db_seconds = sum(s.duration for vm in databases.vms for s in vm.steps)
    clock.advance(db_seconds)  # databases done, first wave of app servers under way
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{app_servers.id}")
    assert [v["executionState"] for v in vms] == ["Running"] * 3 + ["NotStarted"] * 3


async def test_speed_factor_shortens_runs(clock: FakeClock) -> None:
    sim = create_simulator(clock=clock, speed=10)
    plan_id = sim.plan_id("SAP Tier1")
    total = sum(s.duration for s in sim.plan(plan_id).spec.all_steps())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim),
        base_url="http://t",
        headers={"Authorization": f"Bearer {sim.token()}"},
    ) as client:
        await act(client, plan_id, "Failover")
        clock.advance(total / 10)  # sequential upper bound, at ten times the speed
        assert (await runtime(client, plan_id))["state"] == "FailoverComplete"


async def test_critical_step_failure_halts_then_retry_failed_step_completes(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Payroll Restore")
    await act(http, plan_id, "Restore", {})
    clock.advance(LONG)
    halted = await runtime(http, plan_id)
    assert halted["state"] == "Halted"
    assert halted["executionState"] == "Halted"
    assert halted["executionResult"]["result"] == "Error"
    assert halted["currentRunResult"] == "Error"
    assert halted["isStableState"] is True
    assert any(
        "RECOVERY_PENDING" in d["friendlyInfo"] or "failed" in d["friendlyInfo"]
        for d in halted["executionResult"]["details"]
    )
    groups = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups")
    assert [g["executionState"] for g in groups] == ["Halted", "NotStarted"]
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{groups[0]['id']}")
    # the failing check is the VM's last step: that VM is done (with an error), the next waits
    assert [v["executionState"] for v in vms] == ["Completed", "NotStarted"]
    assert vms[0]["executionResult"]["result"] == "Error"
    assert vms[0]["errorCount"] == 1
    assert halted["isUndoPossible"] is False  # restore plans are never undone

    progress = halted["totalProgress"]
    response = await act(http, plan_id, "Continue", {"executionContinueOptions": "RetryFailedStep"})
    assert response.status_code == 200
    resumed = await runtime(http, plan_id)
    assert resumed["state"] == "RestoreInProgress"
    assert resumed["totalProgress"] >= progress
    clock.advance(LONG)
    done = await runtime(http, plan_id)
    assert done["state"] == "RestoreComplete"
    assert done["executionState"] == "Completed"
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{groups[0]['id']}")
    assert [v["errorCount"] for v in vms] == [0, 0]
    failed_vm = sim.plan(plan_id).spec.groups[0].vms[0]
    steps = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Vms/{failed_vm.id}/Steps")
    sql = steps[-1]
    assert sql["executionResult"]["result"] == "Success"
    severities = [d["severity"] for d in sql["executionResult"]["details"]]
    assert severities == ["Error", "Success"]  # the failed attempt stays in the history


@pytest.mark.parametrize(
    ("option", "vm_states", "sql_result", "app_vm_ran"),
    [
        ("ProceedToNextStep", ["Completed", "Completed"], "Error", True),
        ("ProceedToNextVm", ["Completed", "Completed"], "Error", True),
        ("ProceedToNextGroup", ["Completed", "Skipped"], "Error", False),
        ("RetryFailedVm", ["Completed", "Completed"], "Success", True),
        ("RetryFailedGroup", ["Completed", "Completed"], "Success", True),
        ("RetryFailedStep", ["Completed", "Completed"], "Success", True),
    ],
)
async def test_every_continue_option_behaves_coherently(
    http: httpx.AsyncClient,
    sim: Simulator,
    clock: FakeClock,
    option: str,
    vm_states: list[str],
    sql_result: str,
    app_vm_ran: bool,
) -> None:
    plan_id = sim.plan_id("Payroll Restore")
    await act(http, plan_id, "Restore")
    clock.advance(LONG)
    assert sim.plan(plan_id).state == ps.HALTED
    assert (
        await act(http, plan_id, "Continue", {"executionContinueOptions": option.lower()})
    ).status_code == 200
    clock.advance(LONG)
    done = await runtime(http, plan_id)
    assert done["state"] == "RestoreComplete", option
    group = sim.plan(plan_id).spec.groups[0]
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{group.id}")
    assert [v["executionState"] for v in vms] == vm_states
    steps = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Vms/{group.vms[0].id}/Steps")
    assert steps[-1]["executionResult"]["result"] == sql_result
    app_steps = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Vms/{group.vms[1].id}/Steps")
    ran = all(s["executionState"] == "Completed" for s in app_steps)
    assert ran is app_vm_ran
    if not app_vm_ran:
        assert {s["executionState"] for s in app_steps} == {"Skipped"}
    assert done["totalProgress"] == 100


async def test_halt_goes_through_halting_and_continue_resumes(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Web Frontend")
    await act(http, plan_id, "Failover")
    clock.advance(20)
    assert (await act(http, plan_id, "Halt", {"fullStop": True})).status_code == 200
    halting = await runtime(http, plan_id)
    assert halting["state"] == "Halting"
    assert halting["isRunningState"] is True
    before = halting["totalProgress"]
    clock.advance(2)
    halted = await runtime(http, plan_id)
    assert halted["state"] == "Halted"
    assert halted["executionState"] == "Halted"
    assert halted["totalProgress"] == before
    clock.advance(600)
    assert (await runtime(http, plan_id))["totalProgress"] == before  # nothing moves while halted
    groups = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups")
    assert groups[0]["executionState"] == "Halted"
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{groups[0]['id']}")
    assert {v["executionState"] for v in vms} == {"Halted", "NotStarted"}
    assert (
        await act(http, plan_id, "Continue", {"executionContinueOptions": "ProceedToNextStep"})
    ).status_code == 200
    clock.advance(LONG)
    done = await runtime(http, plan_id)
    assert done["state"] == "FailoverComplete"
    vms = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups/{groups[0]['id']}")
    assert {v["executionState"] for v in vms} == {"Completed"}


async def test_halt_of_a_stable_plan_is_refused(http: httpx.AsyncClient, sim: Simulator) -> None:
    response = await act(http, sim.plan_id("Web Frontend"), "Halt", {"fullStop": False})
    assert response.status_code == 400
    assert "Ready" in response.json()["Message"]


async def test_undo_after_failover_then_reset_leaves_plan_ready_and_disabled(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("File Servers Storage")
    await act(http, plan_id, "Failover", {"protectStorageVolumes": True})
    clock.advance(LONG)
    assert (await act(http, plan_id, "Undo")).status_code == 200
    assert (await runtime(http, plan_id))["state"] == "UndoFailoverInProgress"
    clock.advance(LONG)
    undone = await runtime(http, plan_id)
    assert undone["state"] == "UndoFailoverComplete"
    assert undone["isUndoPossible"] is False
    assert (await act(http, plan_id, "ResetState", {"executeReadinessCheck": False})).status_code == 200
    info = await plan(http, plan_id)
    assert (info["state"], info["planMode"]) == ("Ready", "Disabled")
    reset = await runtime(http, plan_id)
    assert reset["executionState"] == "NotStarted"


async def test_reset_with_readiness_check_runs_a_check(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Finance DB Restore")
    await act(http, plan_id, "Restore")
    clock.advance(LONG)
    await act(http, plan_id, "ResetState", {"executeReadinessCheck": True})
    assert (await runtime(http, plan_id))["state"] == "CheckInProgress"
    clock.advance(LONG)
    checked = await runtime(http, plan_id)
    assert checked["state"] == "Ready"
    assert checked["currentCheckResult"] == "Success"
    assert (await plan(http, plan_id))["planMode"] == "Disabled"


async def test_readiness_check_sets_current_check_result(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Exchange Failover")
    first_step = sim.plan(plan_id).spec.groups[0].vms[0].steps[0]
    first_step.checkOutcome = "Warning"
    await act(http, plan_id, "ReadinessCheck", {"generateReport": True})
    checking = await runtime(http, plan_id)
    assert checking["state"] == "CheckInProgress"
    assert checking["stateName"] == "Checking"
    clock.advance(LONG)
    checked = await runtime(http, plan_id)
    assert checked["state"] == "Ready"
    assert checked["currentCheckResult"] == "Warning"
    assert checked["currentRunResult"] == "Undefined"
    groups = await items(http, f"/RuntimeDetails/Plans/{plan_id}/Groups")
    assert groups[0]["executionType"] == "ReadinessCheck"


async def test_halting_a_readiness_check_returns_to_ready(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Exchange Failover")
    await act(http, plan_id, "ReadinessCheck")
    await act(http, plan_id, "Halt")
    assert (await runtime(http, plan_id))["state"] == "CheckHalting"
    clock.advance(5)
    info = await runtime(http, plan_id)
    assert info["state"] == "Ready"
    assert info["currentCheckResult"] == "Error"


async def test_replica_failback_path(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    plan_id = sim.plan_id("CRM Replica")
    location = sim.estate.recoveryLocations[0].id
    assert (
        await act(
            http,
            plan_id,
            "FailbackToProduction",
            {"restoreLocationId": location, "failbackRestoreVMTags": True},
        )
    ).status_code == 200
    clock.advance(LONG)
    assert (await plan(http, plan_id))["state"] == "FailbackComplete"
    assert (await act(http, plan_id, "CommitFailback")).status_code == 200
    clock.advance(LONG)
    info = await plan(http, plan_id)
    assert (info["state"], info["planMode"]) == ("CommitFailbackComplete", "InUse")
    refused = await act(http, plan_id, "Failover")
    assert refused.status_code == 400
    assert "Commit Failback" in refused.json()["Message"]


async def test_cdp_prepare_and_switchover(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    plan_id = sim.plan_id("Exchange Failover")
    for action, state in (
        ("Failover", "FailoverComplete"),
        ("PrepareToFailback", "PrepareFailbackComplete"),
        ("SwitchoverToProduction", "FailbackComplete"),
        ("Undo", "UndoFailbackComplete"),
    ):
        assert (await act(http, plan_id, action)).status_code == 200, action
        clock.advance(LONG)
        assert (await plan(http, plan_id))["state"] == state


async def test_permanent_failover(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    plan_id = sim.plan_id("CRM Replica")
    assert (await act(http, plan_id, "PermanentFailover")).status_code == 200
    assert (await plan(http, plan_id))["stateName"] == "Permanent failover in progress"
    clock.advance(LONG)
    assert (await plan(http, plan_id))["state"] == "PermanentFailoverComplete"


async def test_enable_disable_and_clear_change_log(http: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("SAP Tier1 DR Test")
    assert (await act(http, plan_id, "ResetChangeLog", {"generateDrReport": True})).status_code == 200
    assert (await act(http, plan_id, "Enable")).status_code == 200
    assert (await plan(http, plan_id))["planMode"] == "Enabled"
    again = await act(http, plan_id, "Enable")
    assert again.status_code == 400
    assert "already Enabled" in again.json()["Message"]
    assert (await act(http, plan_id, "Disable")).status_code == 200
    assert (await plan(http, plan_id))["planMode"] == "Disabled"


async def test_schedule_at_fires_the_plan_at_its_time(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Web Frontend Cache")
    when = (clock.now() + timedelta(hours=1)).strftime("%Y/%m/%dT%H:%M:%S")
    response = await http.put(f"{API}/Plans/{plan_id}/Schedule/SaveTime", params={"startTime": when})
    assert response.status_code == 200
    schedule = (await plan(http, plan_id))["schedule"]
    assert schedule["type"] == "OnTime"
    assert schedule["startTime"] == (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock.advance(3600 + 1)
    info = await runtime(http, plan_id)
    assert info["state"] == "FailoverInProgress"
    assert info["executionResult"]["startTime"] == schedule["startTime"]
    assert (await plan(http, plan_id))["schedule"] is None


async def test_schedule_after_runs_when_the_previous_plan_completes_with_chaining(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    first, second = sim.plan_id("Web Frontend"), sim.plan_id("Web Frontend Cache")
    response = await http.put(f"{API}/Plans/{second}/Schedule/SaveRunAfter", params={"previousPlanId": first})
    assert response.status_code == 200
    schedule = (await plan(http, second))["schedule"]
    assert (schedule["type"], schedule["previousPlanName"]) == ("AfterPlan", "Web Frontend")
    cycle = await http.put(f"{API}/Plans/{first}/Schedule/SaveRunAfter", params={"previousPlanId": second})
    assert cycle.status_code == 400
    await act(http, first, "Failover", {"executeChainedPlans": True})
    clock.advance(LONG)
    assert (await plan(http, first))["state"] == "FailoverComplete"
    assert (await plan(http, second))["state"] == "FailoverComplete"


async def test_chained_plan_does_not_run_without_execute_chained_plans(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    first, second = sim.plan_id("Web Frontend"), sim.plan_id("Web Frontend Cache")
    await http.put(f"{API}/Plans/{second}/Schedule/SaveRunAfter", params={"previousPlanId": first})
    await act(http, first, "Failover")
    clock.advance(LONG)
    assert (await plan(http, second))["state"] == "Ready"


async def test_schedule_errors_and_delete(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    plan_id = sim.plan_id("Web Frontend")
    assert (await http.put(f"{API}/Plans/{plan_id}/Schedule/SaveTime")).status_code == 400
    past = (clock.now() - timedelta(hours=1)).isoformat()
    assert (
        await http.put(f"{API}/Plans/{plan_id}/Schedule/SaveTime", params={"startTime": past})
    ).status_code == 400
    garbage = await http.put(f"{API}/Plans/{plan_id}/Schedule/SaveTime", params={"startTime": "soon"})
    assert garbage.status_code == 400
    unknown = await http.put(
        f"{API}/Plans/{plan_id}/Schedule/SaveRunAfter",
        params={"previousPlanId": "00000000-0000-4000-8000-000000000001"},
    )
    assert unknown.status_code == 400
    later = (clock.now() + timedelta(days=1)).isoformat()
    assert (
        await http.put(f"{API}/Plans/{plan_id}/Schedule/SaveTime", params={"startTime": later})
    ).status_code == 200
    assert (await http.delete(f"{API}/Plans/{plan_id}/Schedule")).status_code == 204
    assert (await plan(http, plan_id))["schedule"] is None


async def test_clone_creates_a_disabled_copy_with_new_ids(http: httpx.AsyncClient, sim: Simulator) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    response = await act(http, plan_id, "Clone")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    clone = await plan(http, body["data"])
    assert (clone["name"], clone["planMode"], clone["state"]) == ("Copy of SAP Tier1", "Disabled", "Ready")
    original_groups = {g["id"] for g in await items(http, f"/Plans/{plan_id}/Groups")}
    cloned_groups = {g["id"] for g in await items(http, f"/Plans/{body['data']}/Groups")}
    assert len(cloned_groups) == len(original_groups)
    assert not cloned_groups & original_groups
    named = await act(http, plan_id, "Clone", {"name": "SAP Tier1 Copy B"})
    assert (await plan(http, named.json()["data"]))["name"] == "SAP Tier1 Copy B"
    duplicate = await act(http, plan_id, "Clone", {"name": "sap tier1"})
    assert duplicate.status_code == 400


async def test_undo_from_halted_replica(http: httpx.AsyncClient, sim: Simulator, clock: FakeClock) -> None:
    plan_id = sim.plan_id("Web Frontend")
    await act(http, plan_id, "Failover")
    clock.advance(30)
    await act(http, plan_id, "Halt")
    clock.advance(10)
    assert (await act(http, plan_id, "Undo")).status_code == 200
    clock.advance(LONG)
    assert (await plan(http, plan_id))["state"] == "UndoFailoverComplete"


async def test_cloud_plan_restores_to_azure(
    http: httpx.AsyncClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("Azure Cloud Restore")
    refused = await act(http, plan_id, "Failover")
    assert refused.status_code == 400
    assert "Cloud plan" in refused.json()["Message"]
    assert (
        await act(http, plan_id, "Restore", {"restoreLocationId": sim.estate.recoveryLocations[3].id})
    ).status_code == 200
    clock.advance(LONG)
    done = await runtime(http, plan_id)
    assert (done["state"], done["stateName"], done["recoveryToNewLocation"]) == (
        "RestoreComplete",
        "Restored",
        True,
    )
    assert (await act(http, plan_id, "Undo")).status_code == 400
