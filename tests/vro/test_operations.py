"""Every operation of the seed's sidebar: HTTP method, path, query and body, and the parsed answer."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from bot.vro.client import ActionAccepted, VroClient
from bot.vro.models import (
    ClientCredentials,
    CloneResult,
    ContinueOption,
    ExecutionDetail,
    GroupRuntimeDetails,
    LicenseUsage,
    MfaCode,
    Page,
    Plan,
    PlanRuntimeDetails,
    RecoveryLocation,
    Scope,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.vro.query import F, Sort
from tests.vro.conftest import FakeVro, body_of, fixture_json

P = "b063f440-2f15-45aa-a8f7-196be6f652ba"
P2 = "0a5c4e3b-93b5-4c9a-9a3e-0e4a7e0c6f11"
G = "04c0ffa2-b2aa-435d-8eaa-c79d14af16f6"
V = "e331e72a-d006-434b-ac0a-a5d3ba6d831d"
S = "6eecdb22-6901-41c6-be98-577f4f01b6b4"
SCOPE = "2a87b084-1e8c-42c6-b91f-ad370576e473"
LOC = "9f56721c-751f-4ff8-bf45-2f761453caff"
RULE = "7d0c2a36-4a7b-4e8b-9d55-2f3f1a4c9e10"
API = "/api/v7.21"
EMPTY_PAGE: dict[str, Any] = {"total": 0, "data": []}
COLLECTION_QUERY = {
    "start": "10",
    "limit": "5",
    "filter": '[{"property":"name","operator":"==","value":"x"}]',
    "sort": '[{"property":"name","direction":"DESC"}]',
}
PAGING: dict[str, Any] = {"start": 10, "limit": 5, "filter": F("name") == "x", "sort": Sort.desc("name")}


@dataclass
class Case:
    call: Callable[[VroClient], Awaitable[Any]]
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    answer: httpx.Response = field(default_factory=lambda: httpx.Response(200))
    expect: Callable[[Any], bool] = lambda result: True


def ok(payload: Any) -> httpx.Response:
    return httpx.Response(200, json=payload)


def accepted(result: Any) -> bool:
    return isinstance(result, ActionAccepted) and result.status_code == 200


CASES: dict[str, Case] = {
    # Clients and Mfa (Token grants are covered in test_auth.py)
    "Clients.create": Case(
        lambda c: c.create_client(),
        "POST",
        f"{API}/Clients",
        answer=ok(fixture_json("client_created")),
        expect=lambda r: isinstance(r, ClientCredentials) and r.client_id.startswith("72225B81"),
    ),
    "Clients.list": Case(
        lambda c: c.list_clients(),
        "GET",
        f"{API}/Clients",
        answer=ok(fixture_json("clients")),
        expect=lambda r: r == fixture_json("clients"),
    ),
    "Clients.delete": Case(
        lambda c: c.delete_client("4F82B8C7-4019-416D-9692-3EAE94523BDC"),
        "DELETE",
        f"{API}/Clients",
        query={"clientId": "4F82B8C7-4019-416D-9692-3EAE94523BDC"},
        answer=httpx.Response(204),
    ),
    "Mfa.GenerateMfaCode": Case(
        lambda c: c.generate_mfa_code("mfa-token-xyz"),
        "POST",
        f"{API}/Mfa/GenerateMfaCode",
        body={"mfaToken": "mfa-token-xyz"},
        answer=ok(fixture_json("mfa_code")),
        expect=lambda r: isinstance(r, MfaCode) and r.mfaKey.startswith("HBIG"),
    ),
    # Plans: reads
    "Plans.collection": Case(
        lambda c: c.get_plans(**PAGING, only_enabled=True),
        "GET",
        f"{API}/Plans",
        query={**COLLECTION_QUERY, "onlyEnabled": "true"},
        answer=ok(fixture_json("plans")),
        expect=lambda r: isinstance(r, Page) and r.total == 1 and r.data[0].name == "Ontario",
    ),
    "Plans.item": Case(
        lambda c: c.get_plan(P),
        "GET",
        f"{API}/Plans/{P}",
        answer=ok(fixture_json("plan")),
        expect=lambda r: isinstance(r, Plan) and r.id == P,
    ),
    "Plans.groups": Case(
        lambda c: c.get_plan_groups(P, **PAGING),
        "GET",
        f"{API}/Plans/{P}/Groups",
        query=COLLECTION_QUERY,
        answer=ok({"total": 1, "data": [{"id": G, "name": "Tier1 VMs", "groupType": "VmGroup"}]}),
        expect=lambda r: r.data[0].groupType == "VmGroup",
    ),
    "Plans.group_vms": Case(
        lambda c: c.get_group_vms(P, G, **PAGING),
        "GET",
        f"{API}/Plans/{P}/Groups/{G}/Vms",
        query=COLLECTION_QUERY,
        answer=ok({"total": 1, "data": [{"id": V, "name": "sap-db-01", "voId": 500}]}),
        expect=lambda r: r.data[0].voId == 500,
    ),
    "Plans.group_steps": Case(
        lambda c: c.get_group_steps(P, G),
        "GET",
        f"{API}/Plans/{P}/Groups/{G}/Steps",
        answer=ok(
            {"total": 1, "data": [{"id": S, "name": "Send email", "prohibitedOperations": ["Delete"]}]}
        ),
        expect=lambda r: r.data[0].prohibitedOperations == ["Delete"],
    ),
    "Plans.vm_steps": Case(
        lambda c: c.get_vm_steps(P, V, limit=5),
        "GET",
        f"{API}/Plans/{P}/Vms/{V}/Steps",
        query={"limit": "5"},
        answer=ok({"total": 1, "data": [{"id": S, "name": "Power on VM"}]}),
        expect=lambda r: r.data[0].name == "Power on VM",
    ),
    "Plans.step_parameters": Case(
        lambda c: c.get_step_parameters(P, S),
        "GET",
        f"{API}/Plans/{P}/Steps/{S}/Parameters",
        answer=ok({"total": 1, "data": [{"name": "Timeout", "value": 300, "type": "Int"}]}),
        expect=lambda r: r.data[0].value == 300,
    ),
    # Plans: actions, with their documented bodies
    "Plans.Enable": Case(lambda c: c.enable_plan(P), "POST", f"{API}/Plans/{P}/Enable", expect=accepted),
    "Plans.Disable": Case(lambda c: c.disable_plan(P), "POST", f"{API}/Plans/{P}/Disable", expect=accepted),
    "Plans.Halt": Case(
        lambda c: c.halt_plan(P, full_stop=True),
        "POST",
        f"{API}/Plans/{P}/Halt",
        body={"fullStop": True},
        expect=accepted,
    ),
    "Plans.PermanentFailover": Case(
        lambda c: c.permanent_failover(P), "POST", f"{API}/Plans/{P}/PermanentFailover", expect=accepted
    ),
    "Plans.FailbackToProduction": Case(
        lambda c: c.failback_to_production(P, restore_location_id=LOC, failback_restore_vm_tags=True),
        "POST",
        f"{API}/Plans/{P}/FailbackToProduction",
        body={"restoreLocationId": LOC, "failbackRestoreVMTags": True},
        expect=accepted,
    ),
    "Plans.PrepareToFailback": Case(
        lambda c: c.prepare_to_failback(P), "POST", f"{API}/Plans/{P}/PrepareToFailback", expect=accepted
    ),
    "Plans.SwitchoverToProduction": Case(
        lambda c: c.switchover_to_production(P),
        "POST",
        f"{API}/Plans/{P}/SwitchoverToProduction",
        expect=accepted,
    ),
    "Plans.CommitFailback": Case(
        lambda c: c.commit_failback(P), "POST", f"{API}/Plans/{P}/CommitFailback", expect=accepted
    ),
    "Plans.Undo": Case(lambda c: c.undo_plan(P), "POST", f"{API}/Plans/{P}/Undo", expect=accepted),
    "Plans.ResetState": Case(
        lambda c: c.reset_state(P, execute_readiness_check=True),
        "POST",
        f"{API}/Plans/{P}/ResetState",
        body={"executeReadinessCheck": True},
        expect=accepted,
    ),
    "Plans.ResetChangeLog": Case(
        lambda c: c.reset_change_log(P, generate_dr_report=True),
        "POST",
        f"{API}/Plans/{P}/ResetChangeLog",
        body={"generateDrReport": True},
        expect=accepted,
    ),
    "Plans.Failover": Case(
        lambda c: c.failover(
            P,
            restore_point_date=datetime(2026, 3, 1, 15, 30, tzinfo=timezone(timedelta(hours=1))),
            execute_chained_plans=True,
        ),
        "POST",
        f"{API}/Plans/{P}/Failover",
        body={
            "executeChainedPlans": True,
            "restorePointDate": "2026-03-01T14:30:00",  # offset-less, in VRO_TIMEZONE (UTC)
            "protectStorageVolumes": False,
        },
        expect=accepted,
    ),
    "Plans.Failover.latest": Case(
        lambda c: c.failover(P),
        "POST",
        f"{API}/Plans/{P}/Failover",
        body={"executeChainedPlans": False, "restorePointDate": None, "protectStorageVolumes": False},
        expect=accepted,
    ),
    "Plans.Restore": Case(
        lambda c: c.restore(
            P,
            restore_location_id=LOC,
            virus_scan=True,
            yara_scan=True,
            yara_rule_id=RULE,
            protect_storage_volumes=True,
        ),
        "POST",
        f"{API}/Plans/{P}/Restore",
        body={
            "restoreLocationId": LOC,
            "executeChainedPlans": False,
            "restorePointDate": None,
            "protectStorageVolumes": True,
            "virusScan": True,
            "yaraScan": True,
            "yaraRuleId": RULE,
        },
        expect=accepted,
    ),
    "Plans.Continue": Case(
        lambda c: c.continue_plan(P, ContinueOption.RETRY_FAILED_STEP),
        "POST",
        f"{API}/Plans/{P}/Continue",
        body={"executionContinueOptions": "RetryFailedStep"},
        expect=accepted,
    ),
    "Plans.ReadinessCheck": Case(
        lambda c: c.readiness_check(P, generate_report=True),
        "POST",
        f"{API}/Plans/{P}/ReadinessCheck",
        body={"generateReport": True},
        expect=accepted,
    ),
    "Plans.DeleteSchedule": Case(
        lambda c: c.delete_schedule(P),
        "DELETE",
        f"{API}/Plans/{P}/Schedule",
        answer=httpx.Response(204),
        expect=lambda r: r == ActionAccepted(204),
    ),
    "Plans.ScheduleAt": Case(
        lambda c: c.schedule_at(P, datetime(2026, 11, 12, 12, 0, tzinfo=UTC)),
        "PUT",
        f"{API}/Plans/{P}/Schedule/SaveTime",
        query={"startTime": "2026/11/12T12:00:00"},  # the documented form
        expect=accepted,
    ),
    "Plans.ScheduleAfter": Case(
        lambda c: c.schedule_after(P, P2),
        "PUT",
        f"{API}/Plans/{P}/Schedule/SaveRunAfter",
        query={"previousPlanId": P2},
        expect=accepted,
    ),
    "Plans.Clone": Case(
        lambda c: c.clone_plan(P, name="Ontario (copy)"),
        "POST",
        f"{API}/Plans/{P}/Clone",
        body={"name": "Ontario (copy)"},
        answer=ok({"success": True, "data": P2}),
        expect=lambda r: r == CloneResult(success=True, data=P2),
    ),
    # RecoveryLocations, Scopes, License usage
    "RecoveryLocations.collection": Case(
        lambda c: c.get_recovery_locations(**PAGING),
        "GET",
        f"{API}/RecoveryLocations",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("recovery_locations")),
        expect=lambda r: [loc.availability for loc in r.data] == ["Available", "PartiallyAvailable"],
    ),
    "RecoveryLocations.item": Case(
        lambda c: c.get_recovery_location(LOC),
        "GET",
        f"{API}/RecoveryLocations/{LOC}",
        answer=ok(fixture_json("recovery_locations")["data"][0]),
        expect=lambda r: isinstance(r, RecoveryLocation) and r.isOriginal is True,
    ),
    "Scopes.collection": Case(
        lambda c: c.get_scopes(**PAGING),
        "GET",
        f"{API}/Scopes",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("scopes")),
        expect=lambda r: isinstance(r.data[0], Scope) and r.data[0].isDefault is True,
    ),
    "Scopes.YaraRules": Case(
        lambda c: c.get_yara_rules(SCOPE),
        "GET",
        f"{API}/Scopes/{SCOPE}/YaraRules",
        answer=ok({"total": 1, "data": [{"id": RULE, "name": "Ransomware.Generic"}]}),
        expect=lambda r: r.data[0].name == "Ransomware.Generic",
    ),
    "License.Usage.Server": Case(
        lambda c: c.get_license_usage_server(),
        "GET",
        f"{API}/License/Usage/Server",
        answer=ok(fixture_json("license_usage")),
        expect=lambda r: r == LicenseUsage(newInstances=0, managedInstances=1),
    ),
    "License.Usage.Scope": Case(
        lambda c: c.get_license_usage_scope(SCOPE),
        "GET",
        f"{API}/License/Usage/Scopes/{SCOPE}",
        answer=ok({"newInstances": 2, "managedInstances": 7.5}),
        expect=lambda r: r.managedInstances == 7.5,
    ),
    # RuntimeDetails, answered with the seed's own samples
    "RuntimeDetails.plan": Case(
        lambda c: c.get_plan_runtime(P),
        "GET",
        f"{API}/RuntimeDetails/Plans/{P}",
        answer=ok(fixture_json("runtime_plan")),
        expect=lambda r: isinstance(r, PlanRuntimeDetails) and r.totalProgress == 100,
    ),
    "RuntimeDetails.groups": Case(
        lambda c: c.get_groups_runtime(P, **PAGING),
        "GET",
        f"{API}/RuntimeDetails/Plans/{P}/Groups",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("runtime_groups")),
        expect=lambda r: isinstance(r.data[0], GroupRuntimeDetails) and r.data[0].warningCount == 1,
    ),
    "RuntimeDetails.group_vms": Case(
        lambda c: c.get_group_vms_runtime(P, G, **PAGING),
        "GET",
        f"{API}/RuntimeDetails/Plans/{P}/Groups/{G}",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("runtime_group_vms")),
        expect=lambda r: isinstance(r.data[0], VmRuntimeDetails) and r.data[0].voId == 500,
    ),
    "RuntimeDetails.group_steps": Case(
        lambda c: c.get_group_steps_runtime(P, G, **PAGING),
        "GET",
        f"{API}/RuntimeDetails/Plans/{P}/Groups/{G}/Steps",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("runtime_group_steps")),
        expect=lambda r: (
            isinstance(r.data[0], StepRuntimeDetails) and r.data[0].actionType == "CheckVmLicense"
        ),
    ),
    "RuntimeDetails.vm_steps": Case(
        lambda c: c.get_vm_steps_runtime(P, V, **PAGING),
        "GET",
        f"{API}/RuntimeDetails/Plans/{P}/Vms/{V}/Steps",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("runtime_vm_steps")),
        expect=lambda r: r.data[0].executionResult.result == "Success",
    ),
    "RuntimeDetails.step": Case(
        lambda c: c.get_step_runtime(P, S, **PAGING),
        "GET",
        f"{API}/RuntimeDetails/Plans/{P}/Steps/{S}",
        query=COLLECTION_QUERY,
        answer=ok(fixture_json("runtime_step")),
        expect=lambda r: isinstance(r.data[0], ExecutionDetail) and r.data[0].severity == "Success",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_operation_sends_documented_request_and_parses_answer(
    name: str, client: VroClient, fake_vro: FakeVro
) -> None:
    """Each client method sends VRO's documented method, path, query and body, and parses the answer."""
    case = CASES[name]
    fake_vro.route(case.method, case.path, case.answer)

    result = await case.call(client)

    request = fake_vro.api_requests[-1]
    assert request.method == case.method
    assert request.url.path == case.path
    assert dict(request.url.params) == case.query
    assert body_of(request) == case.body
    if case.body is not None:
        assert request.headers["content-type"] == "application/json"
    assert case.expect(result), result


async def test_ensure_token_logs_in_once_and_reuses_the_token(client: VroClient, fake_vro: FakeVro) -> None:
    """The readiness probe obtains a token through the token endpoint, then reuses it."""
    await client.ensure_token()
    await client.ensure_token()
    assert fake_vro.grant_types() == ["password"]
    assert fake_vro.api_requests == []


def test_every_public_client_operation_has_a_case() -> None:
    """The table above covers every public coroutine method of VroClient (new ones need a case)."""
    methods = {
        name
        for name in dir(VroClient)
        if not name.startswith("_")
        and name
        not in {
            # plumbing and the version in use, not operations
            "aclose",
            "iter_plans",
            "ensure_token",
            "api_version",
            "negotiate",
            "negotiates",
            "zone",
            "check_available",
            "run_action",  # every wrapper below goes through it
            "malware_scan",  # v13+: tests/vro/test_versions.py
        }
    }
    called: set[str] = set()
    for case in CASES.values():
        code = case.call.__code__
        called.update(code.co_names)
    assert methods <= called, sorted(methods - called)


async def test_ids_are_url_quoted_so_they_cannot_escape_the_path(
    client: VroClient, fake_vro: FakeVro
) -> None:
    """An id with slashes or query characters stays one path segment."""
    fake_vro.route("GET", f"{API}/Plans/a/../b?x", ok(fixture_json("plan")))
    await client.get_plan("a/../b?x")
    assert fake_vro.api_requests[-1].url.raw_path.decode() == f"{API}/Plans/a%2F..%2Fb%3Fx"


async def test_relative_ids_are_refused_before_sending(client: VroClient, fake_vro: FakeVro) -> None:
    """An empty or dot id is a ValueError, not a request to another resource."""
    for bad in ("", ".", ".."):
        with pytest.raises(ValueError, match="id"):
            await client.get_plan(bad)
    assert fake_vro.api_requests == []


async def test_clone_tolerates_an_empty_answer_or_a_bare_id(client: VroClient, fake_vro: FakeVro) -> None:
    """Clone's answer is undocumented: empty, a bare id string and a plan object all parse."""
    fake_vro.route(
        "POST",
        f"{API}/Plans/{P}/Clone",
        httpx.Response(200),
        ok(P2),
        ok({"id": P2, "name": "Ontario (copy)"}),
    )
    assert await client.clone_plan(P) == CloneResult(success=True, data=None)
    assert body_of(fake_vro.api_requests[-1]) is None
    assert await client.clone_plan(P) == CloneResult(success=True, data=P2)
    assert await client.clone_plan(P) == CloneResult(success=True, data=P2)


async def test_naive_datetimes_are_refused(client: VroClient, fake_vro: FakeVro) -> None:
    """A time without a timezone is ambiguous for VRO, so it is a ValueError before sending."""
    with pytest.raises(ValueError, match="timezone"):
        await client.schedule_at(P, datetime(2026, 1, 1, 12, 0))  # noqa: DTZ001
    assert fake_vro.api_requests == []


async def test_iter_plans_follows_pages_until_total(client: VroClient, fake_vro: FakeVro) -> None:
    """iter_plans reads page after page (start advancing by page size) and yields every plan once."""
    plans = [{"id": f"plan-{i}", "name": f"Plan {i}"} for i in range(7)]

    def page(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        limit = int(request.url.params["limit"])
        return ok({"total": len(plans), "data": plans[start : start + limit]})

    fake_vro.route("GET", f"{API}/Plans", page)

    names = [plan.name async for plan in client.iter_plans(page_size=3, sort=Sort.asc("name"))]

    assert names == [f"Plan {i}" for i in range(7)]
    starts = [(r.url.params["start"], r.url.params["limit"]) for r in fake_vro.api_requests]
    assert starts == [("0", "3"), ("3", "3"), ("6", "3")]
    assert all(
        json.loads(r.url.params["sort"]) == [{"property": "name", "direction": "ASC"}]
        for r in fake_vro.api_requests
    )


async def test_iter_plans_stops_on_an_empty_page_even_if_total_lies(
    client: VroClient, fake_vro: FakeVro
) -> None:
    """A server whose total is larger than what it has cannot make iter_plans loop forever."""
    fake_vro.route(
        "GET", f"{API}/Plans", ok({"total": 50, "data": [{"id": "p", "name": "P"}]}), ok(EMPTY_PAGE)
    )
    assert [p.id async for p in client.iter_plans(page_size=10)] == ["p"]
    assert len(fake_vro.api_requests) == 2
