"""The approval flow end to end: cards, clicks, refusals, quorum, expiry, exactly one VRO call."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.approvals import messages as msg
from bot.approvals.status import RequestStatus
from bot.sandbox.faults import Fault
from bot.sandbox.models import Message
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, OTHER_CHANNEL, VIEWER, Stack

PLAN = "SAP Tier1"


def action_posts(stack: Stack, action: str) -> int:
    """How many times the simulator was asked to perform ``action``."""
    return sum(
        1 for r in stack.sim.requests if r.method == "POST" and r.path.lower().endswith("/" + action.lower())
    )


def card(stack: Stack) -> Message:
    cards = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")
    assert cards, stack.top_level()
    return cards[-1]


async def click(stack: Stack, user: str, action_id: str = "vro_approve") -> httpx.Response:
    message = card(stack)
    response = await stack.driver.click(
        user_id=user, channel_id=CHANNEL, message_ts=message.ts, action_id=action_id
    )
    await stack.settle()
    return response


async def request_failover(stack: Stack) -> None:
    response = await stack.driver.command(
        f'failover "{PLAN}" --reason "INC-42 site A lost"', user_id=OPERATOR, channel_id=CHANNEL
    )
    assert response.status_code == 200
    await stack.settle()


async def test_failover_needs_a_reason(stack: Stack) -> None:
    await stack.driver.command(f'failover "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    assert any("needs a reason" in text for text in stack.ephemerals(OPERATOR))
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []


async def test_two_approvals_run_the_failover_once(stack: Stack) -> None:
    await request_failover(stack)
    posted = card(stack)
    approve = next(
        e for b in posted.blocks for e in b.get("elements", []) if e.get("action_id") == "vro_approve"
    )
    request_id = approve["value"]
    assert approve.get("confirm"), "a destructive verb asks for confirmation"

    # The requester cannot approve.
    await click(stack, OPERATOR)
    assert any("can't approve your own request" in t for t in stack.ephemerals(OPERATOR))
    # A viewer without the approver role cannot approve.
    await click(stack, VIEWER)
    assert any("approver role" in t for t in stack.ephemerals(VIEWER))
    # The first approver is counted once, however often they click.
    await click(stack, LEAD1)
    await click(stack, LEAD1)
    assert any("already approved" in t for t in stack.ephemerals(LEAD1))
    view = await stack.bot.approvals.get(request_id)
    assert view is not None
    assert view.approvers == (LEAD1,)
    assert view.status is RequestStatus.PENDING
    assert action_posts(stack, "Failover") == 0

    # The second distinct approver completes the quorum: VRO is asked exactly once.
    await click(stack, LEAD2)
    view = await stack.bot.approvals.get(request_id)
    assert view is not None
    assert view.status is RequestStatus.EXECUTED
    assert view.approvers == (LEAD1, LEAD2)
    assert action_posts(stack, "Failover") == 1
    # The card lost its buttons, and the thread got VRO's answer.
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []
    thread = stack.sandbox.workspace.thread(CHANNEL, posted.ts)
    assert any("VRO accepted *Failover*" in m.text for m in thread)
    # Clicking the old card again does nothing.
    assert action_posts(stack, "Failover") == 1


async def test_a_deny_ends_the_request_and_nothing_is_sent(stack: Stack) -> None:
    await request_failover(stack)
    await click(stack, LEAD1, "vro_deny")
    assert action_posts(stack, "Failover") == 0
    pending = await stack.bot.approvals.pending()
    assert pending == []
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []


async def test_expired_requests_take_no_more_approvals(stack: Stack) -> None:
    await request_failover(stack)
    posted = card(stack)
    stack.fake_clock.advance(31 * 60)
    assert await stack.bot.controller.expire_due() == 1
    await stack.settle()  # the card's redraw goes out through the outbox
    assert stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []
    message = stack.sandbox.workspace.message(CHANNEL, posted.ts)
    assert "expired" in (message.text + str(message.blocks)).lower()
    assert action_posts(stack, "Failover") == 0


async def test_twenty_concurrent_clicks_send_exactly_one_action(stack: Stack) -> None:
    """A one-approval request (disable) clicked by both approvers ten times each, all at once."""
    await stack.driver.command(f'disable "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    message = card(stack)
    clicks = [
        stack.driver.click(user_id=user, channel_id=CHANNEL, message_ts=message.ts, action_id="vro_approve")
        for user in [LEAD1, LEAD2] * 10
    ]
    responses = await asyncio.gather(*clicks)
    assert all(r.status_code == 200 for r in responses)
    await stack.settle()
    assert action_posts(stack, "Disable") == 1


async def test_a_bad_signature_or_an_old_timestamp_is_refused(stack: Stack) -> None:
    request = stack.driver.build_command("plans", user_id=VIEWER, channel_id=CHANNEL)
    bad = await stack.driver.send(request, secret="not-the-secret")
    old = await stack.driver.send(request, age_seconds=600)
    assert (bad.status_code, old.status_code) == (401, 401)
    await stack.settle()
    assert stack.ephemerals(VIEWER) == []


async def test_a_timestamp_that_is_not_a_number_is_refused_like_a_bad_signature(stack: Stack) -> None:
    request = stack.driver.build_command("plans", user_id=VIEWER, channel_id=CHANNEL)
    headers = stack.driver.signed_headers(request) | {"X-Slack-Request-Timestamp": "yesterday"}
    response = await stack.http.post("/slack/events", content=request.body, headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "invalid request"})
    await stack.settle()
    assert stack.ephemerals(VIEWER) == []


async def test_a_signed_body_that_is_not_what_slack_sends_is_a_400_not_a_crash(stack: Stack) -> None:
    for body in (b"payload=this-is-not-json", b'{"type": "event_callback", broken'):
        headers = stack.driver.sign(body) | {"Content-Type": "application/x-www-form-urlencoded"}
        response = await stack.http.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 400, body
        assert "not a form or JSON document" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),  # payload=[1,2]
        (b"[1, 2]", "application/json"),
        (b'"event_callback"', "application/json"),
        (b'{"type": "event_callback", "authorizations": "all"}', "application/json"),
    ],
    ids=["payload-list", "json-list", "json-string", "authorizations-string"],
)
async def test_signed_json_that_is_not_an_object_slack_would_send_is_a_400_not_a_crash(
    stack: Stack, body: bytes, content_type: str
) -> None:
    headers = stack.driver.sign(body) | {"Content-Type": content_type}
    response = await stack.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 400, body
    assert "not a form or JSON document" in response.json()["error"]


async def test_an_unsigned_body_is_refused_before_it_is_read(stack: Stack) -> None:
    response = await stack.http.post(
        "/slack/events",
        content=b"payload=this-is-not-json",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401


async def test_an_action_the_plan_state_refuses_names_the_verbs_possible_instead(stack: Stack) -> None:
    await stack.driver.command(f'halt "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    [reply] = [str(p.body["text"]) for hook in stack.sandbox.workspace.hooks.values() for p in hook.posts]
    assert "Halt is not possible" in reply
    assert "possible now: `check`, `disable`, `failover`, `schedule`." in reply


async def test_a_channel_outside_the_policy_is_refused(stack: Stack) -> None:
    response = await stack.driver.command("plans", user_id=VIEWER, channel_id=OTHER_CHANNEL)
    assert response.status_code == 200
    assert msg.CHANNEL_NOT_ALLOWED in response.text
    await stack.settle()
    # The refusal in the ack is all the viewer sees: nothing was looked up or posted after it.
    assert stack.ephemerals(VIEWER, OTHER_CHANNEL) == [msg.CHANNEL_NOT_ALLOWED]


async def test_zero_approval_actions_run_at_once_with_a_card(stack: Stack) -> None:
    await stack.driver.command(f'check "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    assert action_posts(stack, "ReadinessCheck") == 1
    assert any("Readiness" in t or "check" in t.lower() for t in stack.top_level())


async def test_a_redrawn_card_still_names_the_location_the_person_typed(stack: Stack) -> None:
    """Ids go to VRO; people keep reading the names they typed, after every redraw of the card."""
    await stack.driver.command(
        'failback "CRM Replica" --location "Original VM Location"', user_id=OPERATOR, channel_id=CHANNEL
    )
    await stack.settle()
    posted = card(stack)
    assert "Original VM Location" in str(posted.blocks)
    await click(stack, LEAD1)
    redrawn = stack.sandbox.workspace.message(CHANNEL, posted.ts)
    assert "Original VM Location" in str(redrawn.blocks)
    assert action_posts(stack, "FailbackToProduction") == 1


async def test_a_500_with_a_message_is_shown_in_vros_words_and_the_action_is_sent_once(stack: Stack) -> None:
    """VRO documents only 200/400/401/500: its refusal arrives as a 500 with a message. The card
    thread shows the message; nothing is retried; nobody is told VRO is unreachable."""
    said = "Plan 'SAP Tier1' is locked for editing by DOMAIN\\alice."
    stack.sim.faults.fail_next("/api/*/Plans/*/Failover", 1, status=500, method="POST", message=said)
    await request_failover(stack)
    posted = card(stack)
    await click(stack, LEAD1)
    await click(stack, LEAD2)
    assert action_posts(stack, "Failover") == 1
    everything = " ".join(
        [m.text for m in stack.sandbox.workspace.thread(CHANNEL, posted.ts)] + stack.top_level()
    )
    assert said in everything
    assert "unreachable" not in everything.lower()
    assert "outcome" not in everything.lower()


async def test_a_request_whose_card_cannot_be_posted_is_cancelled_not_left_pending(stack: Stack) -> None:
    """Nobody could approve a card Slack refused: the request is withdrawn (and audited)."""
    stack.sandbox.inject("chat.postMessage", Fault.error("not_in_channel"))
    await stack.driver.command('disable "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    assert await stack.bot.approvals.pending() == []
    (entry, *_) = await stack.bot.approvals.audit()
    assert (entry.event, entry.actor) == ("cancelled", "system")
    assert "not_in_channel" in entry.detail["cause"]
