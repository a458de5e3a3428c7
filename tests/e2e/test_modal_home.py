"""The form (``/vro`` alone), the App Home tab and the buttons on plan views, end to end.

The sandbox keeps the views the bot opens, updates and publishes; the driver plays the person
typing into the plan picker, choosing in the selects and submitting. Slack sends the whole form
state with every click inside a modal, so :func:`choose` sends it too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.approvals import messages as msg
from bot.approvals.status import RequestStatus
from bot.sandbox.content import find_element
from bot.sandbox.models import View
from bot.sandbox.requests import FORM, SlackRequest, StateValue
from bot.slack.blocks.kit import MODAL_CALLBACK_ID, ActionId, plan_action_id
from bot.slack.blocks.modal import ModalBlock
from bot.slack.grammar import PLAN_ACTIONS
from bot.slack.listeners.edge import BROKEN_BUTTON
from bot.vro import plan_states
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, VIEWER, Stack

PLAN = "SAP Tier1"
REASON = "INC-42 site A lost"


# --- helpers ---------------------------------------------------------------------------------


async def open_form(stack: Stack, user: str = OPERATOR) -> View:
    response = await stack.driver.command("", user_id=user, channel_id=CHANNEL)
    assert response.status_code == 200
    await stack.settle()
    modal = stack.sandbox.workspace.open_modal(user)
    assert modal is not None, "no modal was opened"
    return modal


async def choose(
    stack: Stack,
    user: str,
    view: View,
    action_id: str,
    value: str,
    *,
    also: Mapping[str, StateValue] | None = None,
) -> httpx.Response:
    """Pick ``value`` in the select ``action_id`` of an open modal, sending the form's state."""
    response = await stack.driver.click_in_view(
        user_id=user, view_id=view.id, action_id=action_id, value=value, state=dict(also or {})
    )
    await stack.settle()
    return response


def options_of(view: View, action_id: str) -> list[str]:
    found = find_element(view.view["blocks"], action_id)
    assert found is not None, f"the view has no {action_id}"
    return [str(o["value"]) for o in found[1].get("options", [])]


def input_block(view: View, block_id: str) -> dict[str, Any]:
    return next(b for b in view.view["blocks"] if b.get("block_id") == block_id)


def approval_card(stack: Stack) -> Any:
    cards = stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE)
    assert cards, stack.top_level()
    return cards[-1]


def request_id_on(card: Any) -> str:
    found = find_element(card.blocks, ActionId.APPROVE)
    assert found is not None
    return str(found[1]["value"])


async def failover_form(stack: Stack) -> tuple[View, str]:
    """The form with SAP Tier1 and Failover chosen: the view and the plan id."""
    plan_id = stack.sim.plan_id(PLAN)
    form = await open_form(stack)
    await choose(stack, OPERATOR, form, ActionId.MODAL_PLAN, plan_id)
    form = stack.sandbox.workspace.views[form.id]
    await choose(
        stack, OPERATOR, form, ActionId.MODAL_ACTION, "Failover", also={ActionId.MODAL_PLAN: plan_id}
    )
    return stack.sandbox.workspace.views[form.id], plan_id


# --- the form --------------------------------------------------------------------------------


async def test_vro_alone_opens_the_form_in_the_channel_it_was_typed_in(stack: Stack) -> None:
    form = await open_form(stack)
    assert stack.sandbox.log.count("views.open", ok=True) == 1
    assert form.view["callback_id"] == MODAL_CALLBACK_ID
    assert json.loads(form.view["private_metadata"])["channel_id"] == CHANNEL
    assert options_of(form, ActionId.MODAL_PLAN) == []  # an external select: options come from the bot
    assert stack.ephemerals(OPERATOR) == []


async def test_the_plan_picker_suggests_matching_plans_exact_name_first(stack: Stack) -> None:
    form = await open_form(stack)
    response = await stack.driver.suggest(
        user_id=OPERATOR, action_id=ActionId.MODAL_PLAN, value="sap tier1", view_id=form.id
    )
    assert response.status_code == 200
    values = [o["value"] for o in response.json()["options"]]
    assert values == [stack.sim.plan_id("SAP Tier1"), stack.sim.plan_id("SAP Tier1 DR Test")]

    nothing = await stack.driver.suggest(
        user_id=OPERATOR, action_id=ActionId.MODAL_PLAN, value="no such plan", view_id=form.id
    )
    assert nothing.json()["options"] == []


async def test_choosing_a_plan_offers_only_the_actions_its_state_allows(stack: Stack) -> None:
    stack.sim.force_state(PLAN, "FailoverComplete")
    plan = stack.sim.plan(PLAN)
    form = await open_form(stack)

    await choose(stack, OPERATOR, form, ActionId.MODAL_PLAN, plan.id)

    assert stack.sandbox.log.count("views.update", ok=True) == 1
    updated = stack.sandbox.workspace.views[form.id]
    allowed = plan_states.allowed_actions("Replica", "FailoverComplete", plan.mode)
    assert options_of(updated, ActionId.MODAL_ACTION) == [a for a in PLAN_ACTIONS if a in allowed]
    assert "Failover" not in options_of(updated, ActionId.MODAL_ACTION)
    assert "Undo" in options_of(updated, ActionId.MODAL_ACTION)


async def test_choosing_failover_asks_for_the_reason_the_policy_requires(stack: Stack) -> None:
    form, _ = await failover_form(stack)
    reason = input_block(form, ModalBlock.REASON)
    assert reason.get("optional") is False


async def test_submitting_a_failover_posts_the_approval_card_in_the_channel(stack: Stack) -> None:
    form, plan_id = await failover_form(stack)
    response = await stack.driver.submit_view(
        user_id=OPERATOR,
        view_id=form.id,
        values={
            ActionId.MODAL_PLAN: plan_id,
            ActionId.MODAL_ACTION: "Failover",
            ActionId.MODAL_REASON: REASON,
        },
    )
    assert response.status_code == 200
    await stack.settle()

    assert stack.sandbox.workspace.open_modal(OPERATOR) is None
    card = approval_card(stack)
    view = await stack.bot.approvals.get(request_id_on(card))
    assert view is not None
    assert (view.requester, view.action, view.plan_id, view.reason) == (OPERATOR, "Failover", plan_id, REASON)
    assert view.status is RequestStatus.PENDING


async def test_a_submission_the_policy_refuses_is_answered_privately_without_a_card(stack: Stack) -> None:
    """Slack enforces the required reason in its client; if one still arrives without, VRO is not asked."""
    form, plan_id = await failover_form(stack)
    response = await stack.driver.submit_view(
        user_id=OPERATOR,
        view_id=form.id,
        values={ActionId.MODAL_PLAN: plan_id, ActionId.MODAL_ACTION: "Failover"},
    )
    await stack.settle()
    assert response.status_code == 200
    assert any("needs a reason" in text for text in stack.ephemerals(OPERATOR)), stack.ephemerals(OPERATOR)
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE) == []


# --- App Home --------------------------------------------------------------------------------


async def request_failover(stack: Stack) -> str:
    await stack.driver.command(f'failover "{PLAN}" --reason "{REASON}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    return request_id_on(approval_card(stack))


def decidable_on_home(stack: Stack, user: str) -> list[str]:
    """Request ids with an Approve button on ``user``'s Home tab."""
    home = stack.sandbox.workspace.home_view(user)
    assert home is not None, f"no Home tab published for {user}"
    return [
        str(e["value"])
        for b in home.view["blocks"]
        for e in b.get("elements", [])
        if e.get("action_id") == ActionId.APPROVE
    ]


async def test_home_shows_a_pending_request_to_an_approver_not_to_its_requester(stack: Stack) -> None:
    request_id = await request_failover(stack)
    for user in (LEAD1, OPERATOR, VIEWER):
        await stack.driver.app_home_opened(user_id=user)
    await stack.settle()

    assert decidable_on_home(stack, LEAD1) == [request_id]
    assert decidable_on_home(stack, OPERATOR) == []
    assert decidable_on_home(stack, VIEWER) == []
    home = stack.sandbox.workspace.home_view(LEAD1)
    assert home is not None
    assert PLAN in json.dumps(home.view)


async def test_an_approver_who_already_approved_no_longer_sees_the_request(stack: Stack) -> None:
    request_id = await request_failover(stack)
    card = approval_card(stack)
    await stack.driver.click(
        user_id=LEAD1, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.APPROVE
    )
    await stack.settle()
    for user in (LEAD1, LEAD2):
        await stack.driver.app_home_opened(user_id=user)
    await stack.settle()
    assert decidable_on_home(stack, LEAD1) == []
    assert decidable_on_home(stack, LEAD2) == [request_id]


async def test_a_duplicated_or_retried_home_event_publishes_once(stack: Stack) -> None:
    first = await stack.driver.app_home_opened(user_id=LEAD1, event_id="Ev0000000001")
    again = await stack.driver.app_home_opened(user_id=LEAD1, event_id="Ev0000000001")
    retried = await stack.driver.app_home_opened(user_id=LEAD1, event_id="Ev0000000001", retry_num=1)
    await stack.settle()
    assert [r.status_code for r in (first, again, retried)] == [200, 200, 200]
    assert stack.sandbox.log.count("views.publish") == 1

    await stack.driver.app_home_opened(user_id=LEAD1, event_id="Ev0000000002")
    await stack.settle()
    assert stack.sandbox.log.count("views.publish") == 2  # a new opening is published again


async def test_approving_from_the_home_tab_counts_and_answers_the_approver(stack: Stack) -> None:
    request_id = await request_failover(stack)
    await stack.driver.app_home_opened(user_id=LEAD1)
    await stack.settle()
    home = stack.sandbox.workspace.home_view(LEAD1)
    assert home is not None

    response = await stack.driver.click_in_view(
        user_id=LEAD1, view_id=home.id, action_id=ActionId.APPROVE, value=request_id
    )
    await stack.settle()

    assert response.status_code == 200
    view = await stack.bot.approvals.get(request_id)
    assert view is not None
    assert view.approvers == (LEAD1,)
    assert "1 of 2" in json.dumps(approval_card(stack).blocks)
    assert any("approv" in text.lower() for text in stack.ephemerals(LEAD1)), stack.ephemerals(LEAD1)
    assert decidable_on_home(stack, LEAD1) == []  # the tab no longer offers what was decided


async def test_a_stale_home_button_says_the_request_is_closed_and_redraws_the_tab(stack: Stack) -> None:
    request_id = await request_failover(stack)
    await stack.driver.app_home_opened(user_id=LEAD1)
    await stack.settle()
    home = stack.sandbox.workspace.home_view(LEAD1)
    assert home is not None
    card = approval_card(stack)
    await stack.driver.click(user_id=LEAD2, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.DENY)
    await stack.settle()

    await stack.driver.click_in_view(
        user_id=LEAD1, view_id=home.id, action_id=ActionId.APPROVE, value=request_id
    )
    await stack.settle()

    assert stack.ephemerals(LEAD1) == [msg.CLOSED_DENIED.format(user=LEAD2)]
    assert decidable_on_home(stack, LEAD1) == []
    view = await stack.bot.approvals.get(request_id)
    assert view is not None
    assert view.approvers == ()


# --- buttons on plan views -------------------------------------------------------------------


async def show_plan(stack: Stack, user: str) -> Any:
    await stack.driver.command(f'plan "{PLAN}"', user_id=user, channel_id=CHANNEL)
    await stack.settle()
    detail = stack.sandbox.workspace.ephemerals_for(CHANNEL, user)[-1]
    assert find_element(detail.blocks, plan_action_id("status")) is not None
    return detail


async def test_a_status_button_on_the_plan_view_answers_with_the_status(stack: Stack) -> None:
    detail = await show_plan(stack, VIEWER)
    response = await stack.driver.click(
        user_id=VIEWER,
        channel_id=CHANNEL,
        message_ts=detail.ts,
        action_id=plan_action_id("status"),
        ephemeral=True,
    )
    await stack.settle()
    assert response.status_code == 200
    replies = stack.sandbox.workspace.ephemerals_for(CHANNEL, VIEWER)
    assert len(replies) == 2
    assert replies[-1].text.startswith(f"{PLAN}: Ready")
    assert stack.sandbox.log.count("views.open") == 0


async def test_a_failover_button_on_the_plan_view_opens_the_form_for_that_plan(stack: Stack) -> None:
    detail = await show_plan(stack, OPERATOR)
    await stack.driver.click(
        user_id=OPERATOR,
        channel_id=CHANNEL,
        message_ts=detail.ts,
        action_id=plan_action_id("failover"),
        ephemeral=True,
    )
    await stack.settle()
    form = stack.sandbox.workspace.open_modal(OPERATOR)
    assert form is not None
    metadata = json.loads(form.view["private_metadata"])
    assert metadata == {"channel_id": CHANNEL, "plan_id": stack.sim.plan_id(PLAN), "action": "Failover"}
    assert input_block(form, ModalBlock.REASON).get("optional") is False


async def test_the_form_opens_in_time_even_when_vro_is_slow(stack: Stack) -> None:
    """Slack's trigger_id lasts 3 s: the form opens at once and is filled in when VRO answers."""
    detail = await show_plan(stack, OPERATOR)
    stack.sim.faults.add_latency("/api/*/Plans/*", 4.0)
    await stack.driver.click(
        user_id=OPERATOR,
        channel_id=CHANNEL,
        message_ts=detail.ts,
        action_id=plan_action_id("failover"),
        ephemeral=True,
    )
    await stack.settle()
    assert stack.sandbox.log.count("views.open", ok=False) == 0
    form = stack.sandbox.workspace.open_modal(OPERATOR)
    assert form is not None
    assert json.loads(form.view["private_metadata"])["plan_id"] == stack.sim.plan_id(PLAN)
    assert len(stack.ephemerals(OPERATOR)) == 1  # only the plan view: no "couldn't open the form"


# --- tampered buttons --------------------------------------------------------------------------


def tampered_click(stack: Stack, user: str, card_ts: str, value: str) -> SlackRequest:
    """A click on the card's Approve button whose value someone rewrote (signed all the same)."""
    built = stack.driver.build_click(
        user_id=user, channel_id=CHANNEL, message_ts=card_ts, action_id=ActionId.APPROVE
    )
    payload = dict(built.payload)
    payload["actions"] = [{**payload["actions"][0], "value": value}]
    return SlackRequest(
        kind="block_actions",
        body=urlencode({"payload": json.dumps(payload)}).encode(),
        content_type=FORM,
        payload=payload,
        response_url=built.response_url,
        trigger_id=built.trigger_id,
    )


async def test_a_tampered_approve_value_is_refused_kindly_and_changes_nothing(stack: Stack) -> None:
    request_id = await request_failover(stack)
    card = approval_card(stack)
    values = [
        '{"request": "x", "approve": true}',  # not an id at all
        "A" * 16,  # well formed, but no such request
        request_id + "'; DROP TABLE action_requests; --",
    ]
    for value in values:
        response = await stack.driver.send(tampered_click(stack, LEAD1, card.ts, value))
        assert response.status_code == 200
        await stack.settle()

    assert stack.ephemerals(LEAD1) == [BROKEN_BUTTON, msg.NOT_FOUND, BROKEN_BUTTON]
    audited_all = await stack.bot.approvals.audit(limit=1000)
    audited = reversed(audited_all)  # oldest first
    refused = [e for e in audited if e.actor == LEAD1 and e.event == "access_refused"]
    assert [(e.detail.get("surface"), e.detail.get("value")) for e in refused] == [
        ("button.approve", values[0]),
        ("button.approve", values[2][:100]),
    ]
    assert any(e.event == "decision_refused" and e.detail.get("refusal") == "not_found" for e in audited_all)
    view = await stack.bot.approvals.get(request_id)
    assert view is not None
    assert view.approvers == ()
    assert view.status is RequestStatus.PENDING
