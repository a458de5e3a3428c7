"""Tolerant reading: VRO versions add enum values, states and shapes; nothing the bot reads or
draws may break on one it has not seen."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from bot.slack.blocks.home import home_view
from bot.slack.blocks.kit import result_emoji
from bot.slack.blocks.plans import plan_detail_message, plans_message
from bot.slack.blocks.runtime import status_message
from bot.slack.blocks.validate import validate_message, validate_view
from bot.vro import plan_states
from bot.vro.models import (
    GroupRuntimeDetails,
    Page,
    Plan,
    PlanGroup,
    PlanRuntimeDetails,
    PlanStep,
    RecoveryLocation,
    Scope,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from tests.vro.conftest import fixture_json

UNSEEN = "SomethingVro14Added"

# Every enum-like field the models read, per model (the known values are in bot.vro.models).
ENUM_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    Plan: (
        "planType",
        "state",
        "lastStableState",
        "previousExecutionState",
        "recoveryLocationType",
        "planMode",
        "planVerificationState",
        "currentRunResult",
        "currentTestResult",
        "currentCheckResult",
    ),
    PlanRuntimeDetails: (
        "state",
        "lastStableState",
        "executionState",
        "currentRunResult",
        "currentTestResult",
        "currentCheckResult",
        "planType",
        "vendor",
        "planMode",
        "planVerificationState",
    ),
    GroupRuntimeDetails: (
        "groupType",
        "executionState",
        "vmsCriticality",
        "virtualGroupType",
        "groupCategory",
        "executionType",
    ),
    PlanGroup: ("groupType", "groupCategory", "virtualGroupType", "vmsCriticality"),
    PlanStep: ("actionType",),
    RecoveryLocation: ("type", "availability"),
    Scope: ("state",),
}
FIXTURES = {
    Plan: "plan",
    PlanRuntimeDetails: "runtime_plan",
    GroupRuntimeDetails: None,
    PlanGroup: None,
    PlanStep: None,
    RecoveryLocation: None,
    Scope: None,
}


def _sample(model: type[BaseModel]) -> dict[str, Any]:
    name = FIXTURES.get(model)
    if name:
        return dict(fixture_json(name))
    return {"id": "4f8c3a2e-0000-4000-8000-000000000001", "name": "x"}


@pytest.mark.parametrize(
    ("model", "field"),
    [(model, field) for model, fields in ENUM_FIELDS.items() for field in fields],
    ids=[f"{model.__name__}.{field}" for model, fields in ENUM_FIELDS.items() for field in fields],
)
def test_every_enum_field_takes_a_value_it_has_never_seen(model: type[BaseModel], field: str) -> None:
    parsed = model.model_validate({**_sample(model), field: UNSEEN})
    assert getattr(parsed, field) == UNSEEN


def test_cards_draw_a_plan_in_a_state_and_type_nobody_has_seen() -> None:
    """The plan list, the plan card, the Home tab and the status tree all still render."""
    plan = Plan.model_validate(
        {**fixture_json("plan"), **dict.fromkeys(ENUM_FIELDS[Plan], UNSEEN), "stateName": None}
    )
    runtime = PlanRuntimeDetails.model_validate(
        {**fixture_json("runtime_plan"), **dict.fromkeys(ENUM_FIELDS[PlanRuntimeDetails], UNSEEN)}
    )
    group = GroupRuntimeDetails.model_validate({"id": "g", "name": "G", "executionState": UNSEEN})
    vm = VmRuntimeDetails.model_validate({"id": "v", "name": "V", "executionState": UNSEEN})
    step = StepRuntimeDetails.model_validate(
        {"id": "s", "name": "S", "executionState": UNSEEN, "actionType": UNSEEN}
    )
    allowed = plan_states.allowed_actions(UNSEEN, UNSEEN, UNSEEN)
    assert allowed == frozenset()
    for message in (
        plans_message([plan]),
        plan_detail_message(plan, allowed=allowed),
        status_message(runtime, [group], vms={"g": [vm]}, steps={"v": [step]}),
    ):
        validate_message(message)  # raises on anything Slack would refuse
        shown = str(message.payload())
        assert "Something Vro14Added" in shown or UNSEEN in shown
    validate_view(home_view(plans=[plan], api_version="v13.2"))
    assert plan_states.display_name(UNSEEN) == "Something Vro14Added"
    assert plan_states.refusal_reason(UNSEEN, UNSEEN, UNSEEN, "Failover") is not None


@pytest.mark.parametrize(
    "body",
    [
        {"total": 1, "data": [{"id": "g1", "name": "Web"}]},
        [{"id": "g1", "name": "Web"}],
        {"data": [{"id": "g1", "name": "Web"}]},
    ],
    ids=["envelope", "bare-array", "envelope-without-total"],
)
def test_sub_collections_read_the_envelope_and_bare_arrays(body: Any) -> None:
    page = Page[PlanGroup].model_validate(body)
    assert (page.total, [g.name for g in page.data]) == (1, ["Web"])


def test_nulls_read_as_defaults() -> None:
    """A half-filled answer (null counts, a null list) still parses."""
    group = GroupRuntimeDetails.model_validate(
        {"id": "g", "name": "G", "successCount": None, "progress": None, "executionResult": None}
    )
    assert (group.successCount, group.progress, group.executionResult) == (0, 0, None)
    assert Page[PlanGroup].model_validate({"total": None, "data": None}).data == []


def test_status_reads_a_failed_result_as_the_error_it_is() -> None:
    """Only Success and Warning are documented results: a step that "Failed" is no ✅."""
    runtime = PlanRuntimeDetails.model_validate(fixture_json("runtime_plan"))
    group = GroupRuntimeDetails.model_validate({"id": "g", "name": "G", "executionState": "Completed"})
    failed = {"executionState": "Completed", "executionResult": {"result": "Failed"}}
    vm = VmRuntimeDetails.model_validate({"id": "v", "name": "web-01", **failed})
    step = StepRuntimeDetails.model_validate({"id": "s", "name": "Check app", **failed})
    shown = str(status_message(runtime, [group], vms={"g": [vm]}, steps={"v": [step]}).payload())
    assert f"{result_emoji('Error')} web-01" in shown
    assert f"{result_emoji('Error')} Check app" in shown
