"""Block Kit builders: every answer is valid Block Kit within Slack's limits, small or huge."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.approvals.outcomes import AuditView, RequestView
from bot.approvals.status import RequestStatus
from bot.slack.blocks import (
    ActionId,
    Message,
    PageRequest,
    approval_card_message,
    audit_message,
    error_message,
    groups_message,
    help_message,
    license_message,
    locations_message,
    notice_message,
    params_message,
    parse_page_value,
    pending_approvals_message,
    plan_action_id,
    plan_detail_message,
    plans_message,
    scopes_message,
    status_message,
    steps_message,
    verb_of_action_id,
    vms_message,
)
from bot.slack.blocks.approvals import ApprovalCardView, describe_params
from bot.slack.blocks.kit import REQUEST_PHRASES, button, page_value, section
from bot.slack.blocks.validate import BlockValidationError, validate_blocks, validate_message
from bot.slack.grammar import VERBS, Kind, ParseError, parse
from tests.slack import samples
from tests.slack.samples import NOW


def texts(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def buttons(blocks: Sequence[dict[str, Any]]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for block in blocks:
        if block["type"] == "actions":
            found += [e for e in block["elements"] if isinstance(e, dict) and e["type"] == "button"]
    return found


# --- the validator itself ---------------------------------------------------------------------


def test_validator_accepts_a_plain_message() -> None:
    validate_message(Message("hi", [section("hello")]))


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        ([{"type": "actions", "elements": [button("b", "a", "v" * 2001)]}], "2000"),
        ([section("x")] * 51, "51 blocks"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "colour": "red"}], "colour"),
        ([{"type": "nonsense"}], "does not know block type"),
        ([{**section("a"), "block_id": "same"}, {**section("b"), "block_id": "same"}], "used twice"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": " "}}], "empty text"),
        (
            [
                {
                    "type": "input",
                    "label": {"type": "plain_text", "text": "x"},
                    "element": {"type": "plain_text_input", "action_id": "a"},
                }
            ],
            "modals",
        ),
    ],
)
def test_validator_rejects_what_slack_would_reject(blocks: list[dict[str, object]], problem: str) -> None:
    with pytest.raises(BlockValidationError, match=problem):
        validate_blocks(blocks)


def test_validator_rejects_an_empty_or_huge_message_text() -> None:
    with pytest.raises(BlockValidationError, match="empty"):
        validate_message(Message(" ", [section("x")]))
    with pytest.raises(BlockValidationError, match="40,000"):
        validate_message(Message("x" * 40_001, [section("x")]))


# --- every builder, small and huge --------------------------------------------------------------

BUILDERS: dict[str, Callable[[int], Message]] = {
    "plans": lambda n: plans_message(
        samples.many_plans(n), command="plans SAP --type replica", filters="“SAP”"
    ),
    "plans last page": lambda n: plans_message(samples.many_plans(n), page=10_000, command="plans"),
    "plan detail": lambda n: plan_detail_message(samples.full_plan()),
    "plan detail long name": lambda n: plan_detail_message(
        samples.plan(samples.LONG * 3, description=samples.LONG * 20)
    ),
    "groups": lambda n: groups_message("SAP Tier1", samples.groups(n), command="groups SAP"),
    "vms": lambda n: vms_message(
        "SAP Tier1", [(g, samples.vms(n, prefix=g.id)) for g in samples.groups(3)], page=1, command="vms SAP"
    ),
    "steps": lambda n: steps_message(
        "SAP Tier1", [("VM sap-app01", samples.steps(n)), ("group Pre", samples.steps(3))]
    ),
    "params": lambda n: params_message(
        "SAP Tier1", "Verify heartbeat", samples.parameters(n), owner="VM sap-app01"
    ),
    "status": lambda n: _status(samples.runtime_tree(max(1, n // 50), 50, 4)),
    "status one huge group": lambda n: _status(samples.runtime_tree(1, n, 3)),
    "status many groups": lambda n: _status(samples.runtime_tree(n, 5, 3)),
    "status finished": lambda n: status_message(samples.runtime_plan(running=False)),
    "locations": lambda n: locations_message(samples.locations(n)),
    "scopes": lambda n: scopes_message(samples.scopes(n)),
    "license": lambda n: license_message(
        samples.license_usage(), scopes=[(s, samples.license_usage()) for s in samples.scopes(n)]
    ),
    "approvals": lambda n: pending_approvals_message([samples.card(request_id=f"r{i}") for i in range(n)]),
    "audit": lambda n: audit_message([_audit(i) for i in range(n)], plan_name=None),
    "card pending": lambda n: approval_card_message(samples.card(reason=samples.LONG * 10)),
    "help": lambda n: help_message(),
    "help verb": lambda n: help_message("continue"),
    "error": lambda n: error_message(
        "No plan named “x” " + samples.LONG * 10, usage=VERBS["plan"].usage_lines
    ),
    "notice": lambda n: notice_message("Watching SAP Tier1 here.", detail=samples.LONG),
}


def _status(tree: samples.Tree, *, running: bool = True) -> Message:
    groups, vms, steps = tree
    return status_message(samples.runtime_plan(running=running), groups, vms=vms, steps=steps)


def _audit(i: int) -> AuditView:
    return AuditView(
        id=i,
        at=samples.NOW - timedelta(minutes=i),
        actor="U0OPS1" if i % 2 else "system",
        event="requested" if i % 3 else "executed",
        request_id=f"r{i}",
        plan_id="p",
        plan_name=f"Plan {i}",
        detail={"reason": samples.LONG, "params": {"a": 1}, "approvers": ["U1", "U2"], "empty": None},
    )


@pytest.mark.parametrize("size", [0, 1, 7, 1000])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_builder_gives_valid_block_kit_for_any_size(name: str, size: int) -> None:
    message = BUILDERS[name](size)
    validate_message(message)
    assert len(message.text) <= 3000


@pytest.mark.parametrize("name", ["plans", "groups", "locations", "scopes", "approvals", "audit"])
def test_long_lists_say_how_much_is_shown(name: str) -> None:
    assert "of 1,000" in texts(BUILDERS[name](1000))


# --- pagination -----------------------------------------------------------------------------------


def test_plans_are_paged_with_buttons_that_rerun_the_command() -> None:
    message = plans_message(samples.many_plans(1000), command="plans SAP --type replica")
    assert "Showing 1–25 of 1,000 plans" in texts(message)
    (next_button,) = buttons(message.blocks)
    assert next_button["action_id"] == ActionId.PAGE_NEXT
    assert parse_page_value(str(next_button["value"])) == PageRequest("plans SAP --type replica", 1)
    last = plans_message(samples.many_plans(1000), page=39, command="plans")
    assert "Showing 976–1,000 of 1,000 plans" in texts(last)
    assert [b["action_id"] for b in buttons(last.blocks)] == [ActionId.PAGE_PREV]


def test_a_command_too_long_for_a_button_says_to_narrow_the_search() -> None:
    message = plans_message(samples.many_plans(100), command="plans " + "x" * 3000)
    assert buttons(message.blocks) == []
    assert "Narrow the search" in texts(message)


def test_page_values_from_elsewhere_are_not_taken() -> None:
    for value in (
        "",
        "req-1",
        "[]",
        '{"c": 1, "p": 1}',
        '{"c": "plans", "p": -1}',
        '{"c": "plans", "p": true}',
    ):
        assert parse_page_value(value) is None
    assert parse_page_value(str(page_value("plans", 3))) == PageRequest("plans", 3)


# --- plan detail ----------------------------------------------------------------------------------


def test_plan_detail_shows_state_schedule_results_and_escapes_text() -> None:
    body = texts(plan_detail_message(samples.full_plan()))
    for fragment in (
        "Replica plan",
        "Ready",
        "Admin Scope",
        "DR site",
        "Last run",
        "Last test",
        "Last readiness check",
    ):
        assert fragment in body
    assert "&lt;prod&gt; &amp; friends" in body
    assert "<!date^" in body


def test_plan_detail_buttons_follow_the_plan_state() -> None:
    ready = buttons(plan_detail_message(samples.plan(state="Ready", mode="Enabled")).blocks)
    verbs = [verb_of_action_id(str(b["action_id"])) for b in ready]
    assert "failover" in verbs
    assert "check" in verbs
    assert "commit-failback" not in verbs
    assert "clone" not in verbs
    assert all(b["value"] == "6f9619ff-8b86-d011-b42d-00c04fc964ff" for b in ready)
    failover_button = next(b for b in ready if b["action_id"] == plan_action_id("failover"))
    assert failover_button["style"] == "danger"
    running = [
        verb_of_action_id(str(b["action_id"]))
        for b in buttons(plan_detail_message(samples.plan(state="FailoverInProgress")).blocks)
    ]
    assert "halt" in running
    assert "failover" not in running


def test_plan_detail_takes_an_explicit_allowed_set() -> None:
    message = plan_detail_message(samples.plan(), allowed=frozenset({"Undo"}))
    action_buttons = [b for b in buttons(message.blocks) if verb_of_action_id(str(b["action_id"])) == "undo"]
    assert len(action_buttons) == 1


def test_plan_detail_says_when_nothing_can_start() -> None:
    assert "Nothing can be started" in texts(plan_detail_message(samples.plan(), allowed=frozenset()))


# --- status tree ---------------------------------------------------------------------------------


def test_status_tree_shows_running_and_failed_items_first_when_cut() -> None:
    body = texts(_status(samples.runtime_tree(1, 1000, 3)))
    assert "failed-vm-0" in body  # the last of 1,000 VMs, but it failed
    assert "vm-0-500" in body  # the running one
    assert "more (" in body
    assert "detail 0" in body  # VRO's friendlyInfo for the error


def test_status_tree_folds_fine_groups_when_too_big() -> None:
    body = texts(_status(samples.runtime_tree(400, 20, 3)))
    assert "finished without warnings or errors" in body or "of 4" in body


def test_status_shows_progress_and_state() -> None:
    body = texts(_status(samples.runtime_tree(2, 2, 2)))
    assert "42%" in body
    assert "Failover in progress" in body
    assert "Group 1" in body


# --- the approval card ----------------------------------------------------------------------------


def test_a_pending_card_has_approve_and_deny_whose_value_is_only_the_request_id() -> None:
    message = approval_card_message(samples.card(request_id="req-42"))
    approve, deny = buttons(message.blocks)
    assert (approve["action_id"], deny["action_id"]) == (ActionId.APPROVE, ActionId.DENY)
    assert approve["value"] == deny["value"] == "req-42"


@pytest.mark.parametrize("verb", [v for v, s in VERBS.items() if s.kind.value == "action"])
def test_approve_asks_for_confirmation_exactly_for_destructive_verbs(verb: str) -> None:
    approve, deny = buttons(approval_card_message(samples.card(verb=verb, params={})).blocks)
    assert ("confirm" in approve) is VERBS[verb].destructive
    assert "confirm" not in deny


@pytest.mark.parametrize(
    ("verb", "phrase"),
    [
        ("check", "asks to run a *readiness check* of plan *SAP Tier1*"),
        ("undo", "asks to *undo* the last run of plan *SAP Tier1*"),
        ("prepare-failback", "asks to *prepare* plan *SAP Tier1* *for failback*"),
        ("permanent-failover", "asks to *make the failover permanent* for plan *SAP Tier1*"),
    ],
)
def test_the_card_says_what_is_asked_in_plain_words(verb: str, phrase: str) -> None:
    assert phrase in texts(approval_card_message(samples.card(verb=verb, params={})))


def test_every_action_verb_has_its_own_phrase() -> None:
    """A verb added to the grammar must say in words what it asks (not "asks to <verb> plan")."""
    for verb, spec in VERBS.items():
        if spec.kind is Kind.ACTION:
            assert verb in REQUEST_PHRASES, verb


def test_the_card_shows_who_what_which_plan_why_approvals_and_expiry() -> None:
    body = texts(approval_card_message(samples.card()))
    for fragment in (
        "<@U0OPS1> asks to *fail over* plan *SAP Tier1* (now *Ready*)",
        "Ready",
        "INC-42 site A lost",
        "1 of 2",
        "<@U0LEAD1>",
        "approver",
        "<!date^",
        "req-0001",
    ):
        assert fragment in body, fragment
    assert "restore point: 2026-11-27 10:00 UTC" in body
    assert "run chained plans" in body


FINAL = {
    RequestStatus.APPROVED: "Sending to VRO",
    RequestStatus.EXECUTING: "Sending to VRO",
    RequestStatus.EXECUTED: "VRO said: started",
    RequestStatus.FAILED: "plan is Halted",
    RequestStatus.DENIED: "Denied by <@U0LEAD2>",
    RequestStatus.CANCELLED: "Cancelled by <@U0OPS1>",
    RequestStatus.EXPIRED: "Expired",
    RequestStatus.OUTCOME_UNKNOWN: "will not be resent",
}


@pytest.mark.parametrize(("status", "fragment"), list(FINAL.items()))
def test_decided_cards_have_no_buttons_and_say_what_happened(status: RequestStatus, fragment: str) -> None:
    view = samples.card(
        status,
        decided_by="U0LEAD2" if status is RequestStatus.DENIED else None,
        vro_message="started" if status is RequestStatus.EXECUTED else None,
        vro_status=200 if status is RequestStatus.EXECUTED else None,
        status_reason="the plan is Halted" if status is RequestStatus.FAILED else None,
        executed_at=NOW,
    )
    message = approval_card_message(view)
    validate_message(message)
    assert buttons(message.blocks) == []
    assert fragment in texts(message)


def test_the_card_builds_from_the_approval_stores_request_view() -> None:
    request = RequestView(
        id="r9", requester="U1", verb="restore", action="Restore", plan_id="p1", plan_name="Files", plan_state="Ready",
        params={"restore_location_id": "loc-1"}, reason=None, channel="C1", card_channel="C1", card_ts="1.2",
        status=RequestStatus.PENDING, approvals_required=1, approver_role="approver", approvers=(),
        created_at=NOW, expires_at=NOW + timedelta(minutes=30), decided_at=None, decided_by=None, executed_at=None,
        vro_status=None, vro_message=None, status_reason=None,
    )  # fmt: skip
    view = ApprovalCardView.from_request(request, plan_state="Ready", param_names={"loc-1": "DR site"})
    body = texts(approval_card_message(view))
    assert "location: DR site" in body
    assert [b["value"] for b in buttons(approval_card_message(view).blocks)] == ["r9", "r9"]


def test_params_are_described_in_words() -> None:
    assert describe_params("continue", {"option": "ProceedToNextVm"}) == [
        "continue by: proceed to the next VM"
    ]
    assert describe_params("schedule", {"previous_plan_id": "p2"}, {"p2": "SAP Tier2"}) == [
        "after: SAP Tier2"
    ]
    assert describe_params("halt", {"full_stop": False}) == ["also stop chained plans: no"]


# --- errors and help --------------------------------------------------------------------------------


def test_an_error_reply_says_what_was_wrong_and_shows_the_usage() -> None:
    error = parse("failover", now=NOW)
    assert isinstance(error, ParseError)
    message = error_message(error)
    assert "Which plan?" in message.text
    assert VERBS["failover"].usage_lines[0] in message.text
    assert "/vro help failover" in texts(message)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_typed_text_gets_a_valid_non_empty_reply(text: str) -> None:
    result = parse(text, now=NOW)
    message = error_message(result) if isinstance(result, ParseError) else help_message(result.help_topic)
    validate_message(message)
