"""The /vro form: only allowed actions are offered, and a submission equals the typed command."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from bot.slack.blocks import (
    ActionId,
    ModalBlock,
    ModalErrors,
    ModalPlan,
    ModalState,
    command_modal,
    parse_modal_submission,
    plan_suggestions,
    read_modal_state,
)
from bot.slack.blocks.validate import option_problems, validate_view
from bot.slack.grammar import PLAN_ACTIONS, ParsedCommand, parse
from bot.slack.resolve import Candidate
from tests.slack import samples
from tests.slack.samples import NOW

PLAN_ID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
EVERYTHING = ModalPlan(PLAN_ID, "SAP Tier1", "Ready", None, "Replica", "Enabled", frozenset(PLAN_ACTIONS))


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def select(value: str) -> dict[str, Any]:
    return {
        "type": "static_select",
        "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
    }


def typed(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def submission(
    action: str | None, inputs: Mapping[str, Any] | None = None, *, plan_id: str | None = PLAN_ID
) -> dict[str, Any]:
    """A view as Slack sends it on submit; ``inputs`` maps block ids to {action_id: state}."""
    values: dict[str, Any] = {}
    if plan_id:
        values[ModalBlock.PLAN] = {ActionId.MODAL_PLAN: select(plan_id)}
        if action:
            values[f"{ModalBlock.ACTION}.{plan_id}"] = {ActionId.MODAL_ACTION: select(action)}
    values.update(inputs or {})
    return {
        "type": "modal",
        "callback_id": "vro_modal",
        "private_metadata": json.dumps({"channel_id": "C0OPS", "plan_id": plan_id, "action": action}),
        "state": {"values": values},
    }


def ok(view: dict[str, Any]) -> ParsedCommand:
    result = parse_modal_submission(view, now=NOW)
    assert isinstance(result, ParsedCommand), result
    return result


def same_command(from_form: ParsedCommand, text: str) -> None:
    typed_command = parse(text, now=NOW)
    assert isinstance(typed_command, ParsedCommand), typed_command
    for attribute in ("verb", "plan", "action", "args", "options", "params", "refs", "reason", "public"):
        assert getattr(from_form, attribute) == getattr(typed_command, attribute), attribute


# --- building -------------------------------------------------------------------------------------


def test_the_empty_form_asks_only_for_a_plan_with_an_external_select() -> None:
    view = command_modal(channel_id="C0OPS")
    validate_view(view)
    (plan_block,) = view["blocks"]
    assert plan_block["element"]["type"] == "external_select"
    assert plan_block["element"]["action_id"] == ActionId.MODAL_PLAN
    assert plan_block["dispatch_action"] is True
    assert read_modal_state(view) == ModalState(channel_id="C0OPS")


def test_only_actions_the_plan_state_allows_are_offered_in_vro_order() -> None:
    plan = ModalPlan.from_plan(samples.plan(state="FailoverComplete", mode="InUse"))
    view = command_modal(plan=plan)
    validate_view(view)
    action_block = next(b for b in view["blocks"] if b.get("block_id", "").startswith("action."))
    offered = [o["value"] for o in action_block["element"]["options"]]
    assert offered == [a for a in PLAN_ACTIONS if a in plan.allowed]
    assert "PermanentFailover" in offered
    assert "Failover" not in offered
    assert action_block["dispatch_action"] is True


def test_a_plan_where_nothing_is_allowed_says_so() -> None:
    view = command_modal(
        plan=ModalPlan(PLAN_ID, "SAP Tier1", "Halting", None, "Replica", "InUse", frozenset())
    )
    assert "Nothing can be started" in json.dumps(view)
    assert not any(i.startswith("action.") for i in block_ids(view))


def test_an_action_the_state_does_not_allow_is_ignored() -> None:
    plan = ModalPlan(PLAN_ID, "SAP Tier1", allowed=frozenset({"Enable"}))
    view = command_modal(plan=plan, action="Failover")
    assert ModalBlock.REASON not in block_ids(view)


def test_failover_shows_restore_point_options_and_reason() -> None:
    view = command_modal(plan=EVERYTHING, action="Failover", reason_required=True)
    ids = block_ids(view)
    assert {"restore_point.Failover", "flags.Failover", "reason"} <= set(ids)
    flags = next(b for b in view["blocks"] if b.get("block_id") == "flags.Failover")
    assert [o["value"] for o in flags["element"]["options"]] == ["chained"]
    reason = next(b for b in view["blocks"] if b.get("block_id") == "reason")
    assert reason["optional"] is False


@pytest.mark.parametrize("action", PLAN_ACTIONS)
@pytest.mark.parametrize("location_count", [0, 5, 150])
def test_the_form_for_every_action_is_a_valid_view(action: str, location_count: int) -> None:
    view = command_modal(
        plan=EVERYTHING, action=action, locations=samples.locations(location_count), channel_id="C1"
    )
    validate_view(view)
    assert read_modal_state({**view, "state": {"values": {}}}).channel_id == "C1"


def test_locations_are_a_select_when_few_and_a_text_box_when_many() -> None:
    few = command_modal(plan=EVERYTHING, action="Restore", locations=[Candidate("l1", "DR site")])
    many = command_modal(plan=EVERYTHING, action="Restore", locations=samples.locations(150))
    kind = {
        name: next(b for b in view["blocks"] if b.get("block_id") == "location.Restore")["element"]["type"]
        for name, view in (("few", few), ("many", many))
    }
    assert kind == {"few": "static_select", "many": "plain_text_input"}


# --- reading it back --------------------------------------------------------------------------------


def test_a_failover_form_equals_the_typed_command() -> None:
    reason = 'INC-42 “site A” lost \\ "really"'
    view = submission(
        "Failover",
        {
            "restore_point.Failover": {ActionId.MODAL_RESTORE_POINT: typed("2026-11-27 10:00")},
            "flags.Failover": {
                ActionId.MODAL_FLAGS: {"type": "checkboxes", "selected_options": [{"value": "chained"}]}
            },
            "reason": {ActionId.MODAL_REASON: typed(reason)},
        },
    )
    command = ok(view)
    assert command.reason == reason
    same_command(
        command, f"failover {PLAN_ID} --restore-point 2026-11-27T10:00 --chained --reason '{reason}'"
    )


@pytest.mark.parametrize(
    ("action", "inputs", "text"),
    [
        ("Enable", {}, f"enable {PLAN_ID}"),
        (
            "Continue",
            {"continue_option.Continue": {ActionId.MODAL_CONTINUE_OPTION: select("RetryFailedStep")}},
            f"continue {PLAN_ID} retry-step",
        ),
        (
            "ScheduleAt",
            {"start_time.ScheduleAt": {ActionId.MODAL_START_TIME: typed("tomorrow 09:30")}},
            f"schedule {PLAN_ID} at 2026-11-28T09:30",
        ),
        (
            "ScheduleAfter",
            {"previous_plan.ScheduleAfter": {ActionId.MODAL_PREVIOUS_PLAN: select("p-2")}},
            f"schedule {PLAN_ID} after p-2",
        ),
        (
            "Restore",
            {"location.Restore": {ActionId.MODAL_LOCATION: select("loc-7")}},
            f"restore {PLAN_ID} --location loc-7",
        ),
        (
            "FailbackToProduction",
            {"location.FailbackToProduction": {ActionId.MODAL_LOCATION: typed("DR site")}},
            f"failback {PLAN_ID} --location 'DR site'",
        ),
        (
            "Clone",
            {"clone_name.Clone": {ActionId.MODAL_CLONE_NAME: typed("SAP copy")}},
            f"clone {PLAN_ID} 'SAP copy'",
        ),
        ("Clone", {"clone_name.Clone": {ActionId.MODAL_CLONE_NAME: {"value": None}}}, f"clone {PLAN_ID}"),
        (
            "Halt",
            {
                "flags.Halt": {
                    ActionId.MODAL_FLAGS: {"selected_options": [{"value": "full-stop"}, {"value": "bogus"}]}
                }
            },
            f"halt {PLAN_ID} --full-stop",
        ),
    ],
)
def test_each_form_equals_its_typed_command(action: str, inputs: dict[str, Any], text: str) -> None:
    same_command(ok(submission(action, inputs)), text)


@pytest.mark.parametrize(
    ("view", "block_id", "fragment"),
    [
        (submission(None, plan_id=None), "plan", "Pick a plan"),
        (submission(None), f"action.{PLAN_ID}", "Pick what to do"),
        (submission("ScheduleAt"), "start_time.ScheduleAt", "needed"),
        (submission("Continue"), "continue_option.Continue", "needed"),
        (
            submission(
                "ScheduleAt",
                {"start_time.ScheduleAt": {ActionId.MODAL_START_TIME: typed("11:00 yesterday")}},
            ),
            "start_time.ScheduleAt",
            "can't read",
        ),
        (
            submission(
                "Failover",
                {"restore_point.Failover": {ActionId.MODAL_RESTORE_POINT: typed("2030-01-01 10:00")}},
            ),
            "restore_point.Failover",
            "in the future",
        ),
        (
            submission("Enable", {"reason": {ActionId.MODAL_REASON: typed("x" * 501)}}),
            "reason",
            "under 500",
        ),
    ],
)
def test_problems_come_back_next_to_the_input(view: dict[str, Any], block_id: str, fragment: str) -> None:
    result = parse_modal_submission(view, now=NOW)
    assert isinstance(result, ModalErrors)
    assert fragment in result.errors[block_id]
    assert result.response() == {"response_action": "errors", "errors": dict(result.errors)}


def test_an_action_chosen_for_another_plan_is_not_read_back() -> None:
    view = submission(None)
    view["state"]["values"]["action.other-plan"] = {ActionId.MODAL_ACTION: select("Failover")}
    assert isinstance(parse_modal_submission(view, now=NOW), ModalErrors)
    assert read_modal_state(view).action is None


def test_garbage_state_and_metadata_do_not_break_reading() -> None:
    for view in (
        {},
        {"private_metadata": "not json", "state": None},
        {"private_metadata": "[1]", "state": {"values": []}},
    ):
        assert read_modal_state(view) == ModalState()
        assert isinstance(parse_modal_submission(view, now=NOW), ModalErrors)


# --- plan suggestions ---------------------------------------------------------------------------------


def test_suggestions_are_capped_at_100_and_fit_slack_option_limits() -> None:
    answer = plan_suggestions(samples.many_plans(1000), "")
    assert len(answer["options"]) == 100
    assert all(not option_problems(o) for o in answer["options"])


def test_suggestions_put_exact_then_prefix_then_contains() -> None:
    plans = [
        samples.plan("DR SAP", id="a"),
        samples.plan("SAP Tier1 DR", id="b"),
        samples.plan("SAP", id="c"),
        samples.plan("Exchange", id="d"),
    ]
    values = [o["value"] for o in plan_suggestions(plans, "sap")["options"]]
    assert values == ["c", "b", "a"]


def test_a_suggestion_shows_the_plan_state() -> None:
    (first,) = plan_suggestions([samples.plan("SAP", state="Halted")], "SAP")["options"]
    assert first["text"]["text"] == "SAP — Halted"
    long_name = plan_suggestions([samples.plan(samples.LONG, state="Halted")], "")["options"][0]["text"][
        "text"
    ]
    assert long_name.endswith("— Halted")
    assert len(long_name) <= 75
