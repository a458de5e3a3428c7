"""The typed VRO client, pointed at the simulator through httpx.ASGITransport, calls every
operation and parses every answer (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MFA_PASSWORD,
    MFA_TOTP_SECRET,
    MFA_USERNAME,
    Simulator,
)
from bot.vro import plan_states as ps
from bot.vro.actions import PlanAction, perform
from bot.vro.auth import ClientCredentialsGrant, PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.vro.errors import VroAuthError, VroNotFound, VroRejected, VroUnavailable
from bot.vro.models import ContinueOption
from bot.vro.query import F, Sort

LONG = 4 * 3600


def _client(
    sim: Simulator, clock: FakeClock, credentials: PasswordCredentials | ClientCredentialsGrant
) -> VroClient:
    return VroClient(
        base_url="http://vro.test",
        credentials=credentials,
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
        retry=RetryPolicy(attempts=3, initial=1, jitter=0),
    )


@pytest.fixture
async def vro(sim: Simulator, clock: FakeClock) -> AsyncIterator[VroClient]:
    async with _client(sim, clock, PasswordCredentials(DEFAULT_USERNAME, DEFAULT_PASSWORD)) as client:
        yield client


async def test_every_read_operation_parses(vro: VroClient, sim: Simulator) -> None:
    plans = await vro.get_plans(sort=Sort.asc("name"))
    assert plans.total == len(sim.estate.plans)
    assert [p.name for p in plans.data] == sorted((p.name for p in plans.data), key=str.casefold)
    sap = await vro.get_plans(filter=F("name").like("SAP*") & (F("planType") == "Replica"))
    assert {p.name for p in sap.data} == {"SAP Tier1", "SAP Tier1 DR Test"}
    enabled = [p async for p in vro.iter_plans(only_enabled=True, page_size=3)]
    assert enabled
    assert all(p.planMode == "Enabled" for p in enabled)

    plan_id = sim.plan_id("SAP Tier1")
    plan = await vro.get_plan(plan_id)
    assert plan.name == "SAP Tier1"
    groups = await vro.get_plan_groups(plan_id)
    vm_group = next(g for g in groups.data if g.groupType == "VmGroup")
    virtual = next(g for g in groups.data if g.groupType == "VirtualGroup")
    vms = await vro.get_group_vms(plan_id, vm_group.id)
    assert vms.total > 0
    assert (await vro.get_group_steps(plan_id, virtual.id)).total > 0
    steps = await vro.get_vm_steps(plan_id, vms.data[0].id)
    assert (await vro.get_step_parameters(plan_id, steps.data[0].id)).total > 0

    locations = await vro.get_recovery_locations()
    assert (await vro.get_recovery_location(locations.data[0].id)).name == locations.data[0].name
    scopes = await vro.get_scopes()
    assert (await vro.get_yara_rules(scopes.data[0].id)).total > 0
    assert (await vro.get_license_usage_server()).managedInstances >= 40
    assert (await vro.get_license_usage_scope(scopes.data[0].id)).managedInstances > 0


async def test_runtime_operations_parse_through_a_whole_failover(
    vro: VroClient, sim: Simulator, clock: FakeClock
) -> None:
    plan_id = sim.plan_id("SAP Tier1")
    await vro.failover(plan_id, execute_chained_plans=False)
    clock.advance(60)
    running = await vro.get_plan_runtime(plan_id)
    assert running.isRunningState
    assert 0 < running.totalProgress < 100
    clock.advance(LONG)
    done = await vro.get_plan_runtime(plan_id)
    assert done.state == ps.FAILOVER_COMPLETE
    assert done.resultName == "Complete, no errors, 1 warning"
    groups = await vro.get_groups_runtime(plan_id)
    vm_group = next(g for g in groups.data if g.groupType == "VmGroup")
    virtual = next(g for g in groups.data if g.groupType == "VirtualGroup")
    vms = await vro.get_group_vms_runtime(plan_id, vm_group.id)
    assert all(v.executionState == "Completed" for v in vms.data)
    vsteps = await vro.get_group_steps_runtime(plan_id, virtual.id)
    assert vsteps.total > 0
    steps = await vro.get_vm_steps_runtime(plan_id, vms.data[0].id)
    assert steps.data[0].executionResult is not None
    details = await vro.get_step_runtime(plan_id, steps.data[0].id)
    assert details.data[0].friendlyInfo


async def test_every_action_through_the_client(vro: VroClient, sim: Simulator, clock: FakeClock) -> None:
    crm = sim.plan_id("CRM Replica")
    exchange = sim.plan_id("Exchange Failover")
    payroll = sim.plan_id("Payroll Restore")
    finance = sim.plan_id("Finance DB Restore")
    dr_test = sim.plan_id("SAP Tier1 DR Test")
    cache = sim.plan_id("Web Frontend Cache")
    web = sim.plan_id("Web Frontend")

    await vro.reset_change_log(dr_test, generate_dr_report=True)
    await vro.enable_plan(dr_test)
    await vro.disable_plan(dr_test)

    await vro.failback_to_production(crm, restore_location_id=sim.estate.recoveryLocations[0].id)
    clock.advance(LONG)
    await vro.undo_plan(crm)
    clock.advance(LONG)
    await vro.reset_state(crm, execute_readiness_check=True)
    clock.advance(LONG)
    assert (await vro.get_plan(crm)).currentCheckResult == "Success"

    await vro.failover(exchange)
    clock.advance(LONG)
    await vro.prepare_to_failback(exchange)
    clock.advance(LONG)
    await vro.switchover_to_production(exchange)
    clock.advance(LONG)
    await vro.commit_failback(exchange)
    clock.advance(LONG)
    assert (await vro.get_plan(exchange)).state == ps.COMMIT_FAILBACK_COMPLETE

    await vro.restore(payroll, restore_location_id=sim.estate.recoveryLocations[1].id, virus_scan=True)
    clock.advance(LONG)
    assert (await vro.get_plan(payroll)).state == ps.HALTED
    await vro.continue_plan(payroll, ContinueOption.RETRY_FAILED_STEP)
    clock.advance(LONG)
    assert (await vro.get_plan(payroll)).state == ps.RESTORE_COMPLETE

    await vro.readiness_check(finance, generate_report=True)
    clock.advance(LONG)
    await vro.restore(finance, restore_point_date=clock.now() - timedelta(days=1))
    clock.advance(10)
    await vro.halt_plan(finance, full_stop=True)
    clock.advance(LONG)
    assert (await vro.get_plan(finance)).state == ps.HALTED

    await vro.schedule_at(web, clock.now() + timedelta(hours=2))
    assert (await vro.get_plan(web)).schedule is not None
    await vro.delete_schedule(web)
    await vro.schedule_after(cache, web)
    assert (await vro.get_plan(cache)).schedule is not None

    clone = await vro.clone_plan(web, name="Web Frontend Clone")
    assert clone.success
    assert clone.data is not None
    assert (await vro.get_plan(clone.data)).name == "Web Frontend Clone"

    storage = sim.plan_id("File Servers Storage")
    await vro.failover(storage, protect_storage_volumes=True)
    clock.advance(LONG)
    await vro.undo_plan(storage)


async def test_perform_runs_actions_by_name(vro: VroClient, sim: Simulator, clock: FakeClock) -> None:
    crm = sim.plan_id("CRM Replica")
    result = await perform(vro, PlanAction.PERMANENT_FAILOVER, crm, {})
    assert result.ok
    clock.advance(LONG)
    assert (await vro.get_plan(crm)).state == ps.PERMANENT_FAILOVER_COMPLETE
    clone = await perform(vro, PlanAction.CLONE, crm, {"name": "CRM Copy"})
    assert clone.new_plan_id is not None


async def test_refusals_map_onto_the_error_tree(vro: VroClient, sim: Simulator) -> None:
    with pytest.raises(VroRejected) as refused:
        await vro.failover(sim.plan_id("SAP Tier1 DR Test"))
    assert "Disabled" in str(refused.value.vro_message)
    with pytest.raises(VroNotFound):
        await vro.get_plan("00000000-0000-4000-8000-000000000001")
    with pytest.raises(VroRejected):
        await vro.continue_plan(sim.plan_id("SAP Tier1"), ContinueOption.PROCEED_TO_NEXT_VM)


async def test_client_survives_expired_tokens_and_retries_injected_5xx(
    vro: VroClient, sim: Simulator, clock: FakeClock
) -> None:
    await vro.get_scopes()
    sim.expire_tokens()
    assert (await vro.get_scopes()).total > 0
    sim.faults.fail_next("/api/v7.21/Scopes", 1, status=503)
    assert (await vro.get_scopes()).total > 0
    sim.faults.error_rate("/api/v7.21/Scopes", 1.0, status=503)
    with pytest.raises(VroUnavailable):
        await vro.get_scopes()


async def test_client_logs_in_with_mfa_and_with_an_api_client(sim: Simulator, clock: FakeClock) -> None:
    async with _client(sim, clock, PasswordCredentials(MFA_USERNAME, MFA_PASSWORD, MFA_TOTP_SECRET)) as mfa:
        assert (await mfa.get_plans()).total > 0
    async with _client(sim, clock, PasswordCredentials(ADMIN_USERNAME, ADMIN_PASSWORD)) as admin:
        created = await admin.create_client()
        assert await admin.list_clients() == [created.client_id]
        grant = ClientCredentialsGrant(created.client_id, created.client_secret)
        async with _client(sim, clock, grant) as as_client:
            assert (await as_client.get_scopes()).total > 0
        await admin.delete_client(created.client_id)
        assert await admin.list_clients() == []
    async with _client(sim, clock, PasswordCredentials(DEFAULT_USERNAME, "wrong")) as bad:
        with pytest.raises(VroAuthError):
            await bad.get_plans()


async def test_generate_mfa_code_through_the_client(
    sim: Simulator, clock: FakeClock, anon: httpx.AsyncClient
) -> None:
    mfa_token = (
        await anon.post(
            "/api/token", data={"grant_type": "password", "username": MFA_USERNAME, "password": MFA_PASSWORD}
        )
    ).json()["mfa_token"]
    async with _client(sim, clock, PasswordCredentials(DEFAULT_USERNAME, DEFAULT_PASSWORD)) as vro:
        code = await vro.generate_mfa_code(mfa_token)
    assert code.mfaKey == MFA_TOTP_SECRET
