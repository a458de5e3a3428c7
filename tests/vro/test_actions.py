"""perform(): PlanAction + snake_case params -> the one matching VRO call; bad params refused."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from bot.vro.actions import ACTION_PARAMS, ActionResult, PlanAction, perform, validate_params
from bot.vro.client import VroClient
from bot.vro.errors import VroRejected
from tests.vro.conftest import FakeVro, body_of, fixture_json

P = "b063f440-2f15-45aa-a8f7-196be6f652ba"
P2 = "0a5c4e3b-93b5-4c9a-9a3e-0e4a7e0c6f11"
LOC = "9f56721c-751f-4ff8-bf45-2f761453caff"
PLAN = f"/api/v7.21/Plans/{P}"

# action, params, expected method, path, query, body
MAPPING: list[tuple[PlanAction, dict[str, Any], str, str, dict[str, str], Any]] = [
    (PlanAction.ENABLE, {}, "POST", f"{PLAN}/Enable", {}, None),
    (PlanAction.DISABLE, {}, "POST", f"{PLAN}/Disable", {}, None),
    (PlanAction.HALT, {"full_stop": True}, "POST", f"{PLAN}/Halt", {}, {"fullStop": True}),
    (
        PlanAction.FAILOVER,
        {"restore_point_date": "2026-03-01T14:30:00+00:00", "execute_chained_plans": True},
        "POST",
        f"{PLAN}/Failover",
        {},
        {
            "executeChainedPlans": True,
            "restorePointDate": "2026-03-01T14:30:00",
            "protectStorageVolumes": False,
        },
    ),
    (PlanAction.PERMANENT_FAILOVER, {}, "POST", f"{PLAN}/PermanentFailover", {}, None),
    (
        PlanAction.FAILBACK_TO_PRODUCTION,
        {"restore_location_id": LOC, "failback_restore_vm_tags": True},
        "POST",
        f"{PLAN}/FailbackToProduction",
        {},
        {"restoreLocationId": LOC, "failbackRestoreVMTags": True},
    ),
    (PlanAction.PREPARE_TO_FAILBACK, {}, "POST", f"{PLAN}/PrepareToFailback", {}, None),
    (PlanAction.SWITCHOVER_TO_PRODUCTION, {}, "POST", f"{PLAN}/SwitchoverToProduction", {}, None),
    (PlanAction.COMMIT_FAILBACK, {}, "POST", f"{PLAN}/CommitFailback", {}, None),
    (PlanAction.UNDO, {}, "POST", f"{PLAN}/Undo", {}, None),
    (
        PlanAction.RESET_STATE,
        {"execute_readiness_check": True},
        "POST",
        f"{PLAN}/ResetState",
        {},
        {"executeReadinessCheck": True},
    ),
    (
        PlanAction.RESET_CHANGE_LOG,
        {"generate_dr_report": False},
        "POST",
        f"{PLAN}/ResetChangeLog",
        {},
        {"generateDrReport": False},
    ),
    (
        PlanAction.RESTORE,
        {"restore_location_id": LOC, "restore_point_date": None},
        "POST",
        f"{PLAN}/Restore",
        {},
        {
            "restoreLocationId": LOC,
            "executeChainedPlans": False,
            "restorePointDate": None,
            "protectStorageVolumes": False,
            "virusScan": False,
            "yaraScan": False,
        },
    ),
    (
        PlanAction.CONTINUE,
        {"option": "proceed-to-next-vm"},
        "POST",
        f"{PLAN}/Continue",
        {},
        {"executionContinueOptions": "ProceedToNextVm"},
    ),
    (
        PlanAction.READINESS_CHECK,
        {"generate_report": True},
        "POST",
        f"{PLAN}/ReadinessCheck",
        {},
        {"generateReport": True},
    ),
    (
        PlanAction.SCHEDULE_AT,
        {"start_time": "2026-11-12T13:00:00+01:00"},
        "PUT",
        f"{PLAN}/Schedule/SaveTime",
        {"startTime": "2026/11/12T12:00:00"},
        None,
    ),
    (
        PlanAction.SCHEDULE_AFTER,
        {"previous_plan_id": P2},
        "PUT",
        f"{PLAN}/Schedule/SaveRunAfter",
        {"previousPlanId": P2},
        None,
    ),
    (PlanAction.DELETE_SCHEDULE, {}, "DELETE", f"{PLAN}/Schedule", {}, None),
]


def test_mapping_covers_every_action_but_clone() -> None:
    """Every PlanAction is exercised (Clone has its own test; MalwareScan, v13+, in test_versions)."""
    assert {row[0] for row in MAPPING} | {PlanAction.CLONE, PlanAction.MALWARE_SCAN} == set(PlanAction)
    assert set(ACTION_PARAMS) == set(PlanAction)


@pytest.mark.parametrize(
    ("action", "params", "method", "path", "query", "body"), MAPPING, ids=[row[0].value for row in MAPPING]
)
async def test_perform_makes_the_matching_call(
    action: PlanAction,
    params: dict[str, Any],
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    client: VroClient,
    fake_vro: FakeVro,
) -> None:
    """perform sends exactly the VRO request of the action and reports acceptance."""
    fake_vro.route(method, path, httpx.Response(200))
    result = await perform(client, action, P, params)
    request = fake_vro.api_requests[-1]
    assert (request.method, request.url.path, dict(request.url.params), body_of(request)) == (
        method,
        path,
        query,
        body,
    )
    assert result.ok
    assert result.status_code == 200
    assert result.action is action
    assert result.plan_id == P
    assert P in result.message


async def test_perform_clone_reports_the_new_plan_id(client: VroClient, fake_vro: FakeVro) -> None:
    """Clone's result carries VRO's new plan id in new_plan_id and in the message."""
    fake_vro.route("POST", f"{PLAN}/Clone", httpx.Response(200, json={"success": True, "data": P2}))
    result = await perform(client, "Clone", P, {"name": "  Ontario copy "})
    assert body_of(fake_vro.api_requests[-1]) == {"name": "Ontario copy"}
    assert result.ok
    assert result.new_plan_id == P2
    assert P2 in result.message


async def test_perform_clone_reports_vro_saying_no(client: VroClient, fake_vro: FakeVro) -> None:
    """A clone answer with success false is a result with ok False."""
    fake_vro.route(
        "POST", f"{PLAN}/Clone", httpx.Response(200, json={"success": False, "data": "Name taken"})
    )
    result = await perform(client, PlanAction.CLONE, P, {})
    assert not result.ok
    assert "Name taken" in result.message


async def test_perform_lets_vro_refusals_through_typed(client: VroClient, fake_vro: FakeVro) -> None:
    """A refusal is raised as VroRejected; ActionResult.failed turns it into a result."""
    fake_vro.route("POST", f"{PLAN}/Undo", httpx.Response(400, json={"Message": "Plan is not in FAILOVER."}))
    with pytest.raises(VroRejected) as caught:
        await perform(client, PlanAction.UNDO, P, {})
    result = ActionResult.failed(PlanAction.UNDO, P, caught.value)
    assert (result.ok, result.status_code, result.error) == (False, 400, "VroRejected")
    assert result.message == f"VRO refused Undo for plan {P}: Plan is not in FAILOVER."


@pytest.mark.parametrize(
    ("action", "params", "words"),
    [
        ("Explode", {}, "unknown plan action 'Explode'"),
        (PlanAction.ENABLE, {"full_stop": True}, "Enable does not take full_stop (it accepts no parameters)"),
        (PlanAction.HALT, {"fullStop": True}, "Halt does not take fullStop (it accepts full_stop)"),
        (PlanAction.HALT, {"full_stop": "yes"}, "full_stop must be true or false"),
        (PlanAction.FAILOVER, {"restore_point_date": "yesterday"}, "must be an ISO date and time"),
        (PlanAction.FAILOVER, {"restore_point_date": "2026-03-01T14:30:00"}, "needs a timezone"),
        (PlanAction.FAILOVER, {"restore_point_date": 12}, "must be an ISO date and time string"),
        (PlanAction.CONTINUE, {}, "Continue needs option"),
        (PlanAction.CONTINUE, {"option": "Sideways"}, "option must be one of ProceedToNextVm"),
        (PlanAction.SCHEDULE_AT, {}, "Schedule at a time needs start_time"),
        (PlanAction.SCHEDULE_AFTER, {"previous_plan_id": "  "}, "previous_plan_id must be a non-empty text"),
        (PlanAction.RESTORE, {"yara_scan": True}, "YARA scan needs yara_rule_id"),
        (PlanAction.CLONE, {"name": 42}, "name must be a non-empty text"),
    ],
)
async def test_bad_params_are_refused_before_anything_is_sent(
    action: str, params: dict[str, Any], words: str, client: VroClient, fake_vro: FakeVro
) -> None:
    """Unknown actions, unknown keys, wrong types and missing values raise a clear ValueError."""
    with pytest.raises(ValueError, match=re.escape(words)):
        await perform(client, action, P, params)
    assert fake_vro.api_requests == []
    assert fake_vro.grants == []


async def test_perform_needs_a_plan_id(client: VroClient) -> None:
    """An empty plan id is refused."""
    with pytest.raises(ValueError, match="plan id"):
        await perform(client, PlanAction.ENABLE, " ", {})


def test_validate_params_returns_typed_arguments() -> None:
    """Times become aware datetimes, options canonical, None means not given."""
    kwargs = validate_params(
        PlanAction.FAILOVER, {"restore_point_date": "2026-03-01T14:30:00Z", "execute_chained_plans": None}
    )
    assert kwargs["restore_point_date"].isoformat() == "2026-03-01T14:30:00+00:00"
    assert "execute_chained_plans" not in kwargs
    assert validate_params("Continue", {"option": "RETRY_FAILED_STEP"}) == {"option": "RetryFailedStep"}


@pytest.mark.parametrize("action", [PlanAction.FAILBACK_TO_PRODUCTION, PlanAction.RESTORE])
async def test_failback_and_restore_default_to_the_plans_own_recovery_location(
    action: PlanAction, client: VroClient, fake_vro: FakeVro
) -> None:
    """The reference requires restoreLocationId: without --location, the plan's own (read from VRO)."""
    own = fixture_json("plan")["recoveryLocationId"]
    fake_vro.route("GET", PLAN, httpx.Response(200, json=fixture_json("plan")))
    fake_vro.route("POST", f"{PLAN}/{action.value}", httpx.Response(200))
    await perform(client, action, P, {})
    read, sent = fake_vro.api_requests[-2:]
    assert (read.method, read.url.path) == ("GET", PLAN)
    assert body_of(sent)["restoreLocationId"] == own


async def test_a_named_location_is_sent_without_reading_the_plan(
    client: VroClient, fake_vro: FakeVro
) -> None:
    fake_vro.route("POST", f"{PLAN}/FailbackToProduction", httpx.Response(200))
    await perform(client, PlanAction.FAILBACK_TO_PRODUCTION, P, {"restore_location_id": LOC})
    assert [(r.method, r.url.path) for r in fake_vro.api_requests] == [
        ("POST", f"{PLAN}/FailbackToProduction")
    ]
    assert body_of(fake_vro.api_requests[-1])["restoreLocationId"] == LOC


async def test_a_plan_without_a_location_is_refused_before_sending(
    client: VroClient, fake_vro: FakeVro
) -> None:
    plan = {**fixture_json("plan"), "recoveryLocationId": None}
    fake_vro.route("GET", PLAN, httpx.Response(200, json=plan))
    with pytest.raises(ValueError, match="name one with --location"):
        await perform(client, PlanAction.RESTORE, P, {})
    assert [r.method for r in fake_vro.api_requests] == ["GET"]
