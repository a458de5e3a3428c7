"""The policy holds on every surface and fails closed (issue 16), end to end with signed requests.

A policy where not everyone is a viewer; roles granted through Slack user groups; requests
from other workspaces, enterprises and apps; buttons that report another channel; the same
delivery arriving twice, also at the same moment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from sqlalchemy import func, select

from bot.approvals import messages as msg
from bot.approvals.outcomes import AuditView
from bot.approvals.policy import Policy
from bot.approvals.status import RequestStatus
from bot.approvals.tables import ActionRequest
from bot.clock import FakeClock, SystemClock
from bot.offline import OFFLINE_SIGNING_SECRET, offline_stack
from bot.sandbox.content import find_element
from bot.sandbox.driver import SlackDriver
from bot.sandbox.faults import Fault
from bot.sandbox.requests import FORM, SlackRequest
from bot.slack.access import ROLE_REQUIRED_TO_QUERY
from bot.slack.app import FOREIGN_WORKSPACE, IDENTITY_UNKNOWN, NOT_A_SLACK_PAYLOAD
from bot.slack.blocks.kit import MODAL_CALLBACK_ID, ActionId, plan_action_id
from bot.slack.listeners.commands import STALE_PAGE_BUTTON
from bot.watcher.service import WatcherConfig
from bot.watcher.tables import Watch
from tests.e2e.conftest import CHANNEL, LEAD1, OPERATOR, OTHER_CHANNEL, OUTSIDER, VIEWER, Stack
from tests.e2e.test_modal_home import choose

GROUPIE = "U0GROUPIE"  # an approver and a viewer only through user groups
AUTHZ_POLICY = f"""
channels: [{CHANNEL}]
roles:
  viewer:   {{users: [{VIEWER}, {OPERATOR}, {LEAD1}], groups: [dr-viewers]}}
  operator: {{users: [{OPERATOR}]}}
  approver: {{users: [{LEAD1}], groups: [dr-approvers]}}
defaults: {{role: operator, approvals: 1, approver_role: approver, ttl_minutes: 30}}
"""
GROUPS_DOWN = "can't check who is in @dr-approvers right now"


@pytest.fixture
async def guarded(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(AUTHZ_POLICY),
        users={OPERATOR: "olivia", LEAD1: "lee", VIEWER: "sam", OUTSIDER: "otto", GROUPIE: "gus"},
        channels={CHANNEL: "dr-war-room", OTHER_CHANNEL: "random"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        instance_id="authz",
    ) as offline:
        offline.sandbox.workspace.add_usergroup("S0APPR", "dr-approvers", [GROUPIE])
        offline.sandbox.workspace.add_usergroup("S0VIEW", "dr-viewers", [GROUPIE])
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})


# --- helpers ---------------------------------------------------------------------------------


def action_posts(stack: Stack, action: str) -> int:
    return sum(
        1 for r in stack.sim.requests if r.method == "POST" and r.path.lower().endswith("/" + action.lower())
    )


def cards(stack: Stack) -> list[Any]:
    return stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE)


async def request_disable(stack: Stack, plan: str) -> Any:
    await stack.driver.command(f'disable "{plan}"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    posted = [c for c in cards(stack) if plan in json.dumps(c.blocks)]
    assert posted, stack.top_level()
    return posted[-1]


async def click(stack: Stack, user: str, card: Any, action_id: str = ActionId.APPROVE) -> httpx.Response:
    response = await stack.driver.click(
        user_id=user, channel_id=CHANNEL, message_ts=card.ts, action_id=action_id
    )
    await stack.settle()
    return response


def request_id_on(card: Any) -> str:
    found = find_element(card.blocks, ActionId.APPROVE)
    assert found is not None
    return str(found[1]["value"])


async def audit(stack: Stack) -> list[AuditView]:
    return await stack.bot.approvals.audit(limit=1000)


def rewritten(request: SlackRequest, change: Callable[[dict[str, Any]], None]) -> SlackRequest:
    """The same request with its payload (or form fields) changed, signed all the same when sent."""
    if request.kind == "command":
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        change(form)
        return SlackRequest(
            kind="command",
            body=urlencode(form).encode(),
            content_type=FORM,
            payload=form,
            response_url=request.response_url,
            trigger_id=request.trigger_id,
        )
    payload = json.loads(json.dumps(request.payload))
    change(payload)
    return SlackRequest(
        kind=request.kind,
        body=urlencode({"payload": json.dumps(payload)}).encode(),
        content_type=FORM,
        payload=payload,
        response_url=request.response_url,
        trigger_id=request.trigger_id,
    )


def in_channel(channel: str) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        payload["channel"] = {"id": channel, "name": "random"}
        payload["container"] = {**payload["container"], "channel_id": channel}

    return change


async def count_requests(stack: Stack) -> int:
    async with stack.bot.sessions() as session:
        return int((await session.execute(select(func.count(ActionRequest.id)))).scalar_one())


async def count_watches(stack: Stack) -> int:
    async with stack.bot.sessions() as session:
        return int((await session.execute(select(func.count(Watch.id)))).scalar_one())


def plan_names(stack: Stack) -> list[str]:
    return [p.name for p in stack.sim.core.estate.plans]


# --- 1. roles through user groups: a bounded trust, refusal past it -------------------------------


async def test_a_group_approver_is_refused_once_slack_has_not_answered_for_longer_than_the_grace(
    guarded: Stack,
) -> None:
    """Removed from dr-approvers while Slack rate-limits the lookup: refused past 10 minutes, audited."""
    stack = guarded
    first = await request_disable(stack, "Payroll Restore")
    await click(stack, GROUPIE, first)  # Slack answers: Gus is in @dr-approvers
    assert action_posts(stack, "Disable") == 1

    stack.sandbox.workspace.usergroups["S0APPR"].users.clear()  # removed from the group...
    stack.sandbox.inject("usergroups.list", Fault.rate_limited(retry_after=30), times=1000)  # ...unseen
    stack.fake_clock.advance(10 * 60 + 1)
    second = await request_disable(stack, "Web Frontend")
    await click(stack, GROUPIE, second)

    assert action_posts(stack, "Disable") == 1, "nothing was sent for the second request"
    refusal = stack.ephemerals(GROUPIE)[-1]
    assert GROUPS_DOWN in refusal
    assert "ratelimited" in refusal
    view = await stack.bot.approvals.get(request_id_on(second))
    assert view is not None
    assert (view.status, view.approvers) == (RequestStatus.PENDING, ())
    refused = [e for e in await audit(stack) if e.event == "decision_refused" and e.actor == GROUPIE]
    assert [e.detail["refusal"] for e in refused] == ["groups_unavailable"]
    assert refused[0].request_id == view.id


async def test_a_click_is_acknowledged_at_once_when_slack_rate_limits_the_group_lookup(
    tmp_path: Path, clock: FakeClock
) -> None:
    """With the Slack client of ``vro-bot run`` (which waits out 429s), a lookup made before the
    ack is never one of them: the click is answered at once, refused and told why."""
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(AUTHZ_POLICY),
        users={OPERATOR: "olivia", GROUPIE: "gus"},
        channels={CHANNEL: "dr-war-room"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        instance_id="authz-retries",
        slack_retries=True,
    ) as offline:
        offline.sandbox.workspace.add_usergroup("S0APPR", "dr-approvers", [GROUPIE])
        stack = Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})
        card = await request_disable(stack, "Payroll Restore")
        stack.sandbox.inject("usergroups.list", Fault.rate_limited(retry_after=3600), times=10)
        # A guard, not a wait: without the fix the ack waits out Retry-After (twice).
        async with asyncio.timeout(10):
            response = await click(stack, GROUPIE, card)
        assert response.status_code == 200
        assert stack.sandbox.log.count("usergroups.list") == 1  # one try, no retry
        assert GROUPS_DOWN in stack.ephemerals(GROUPIE)[-1]
        assert action_posts(stack, "Disable") == 0


async def test_within_the_grace_a_failed_lookup_still_uses_slacks_last_answer(guarded: Stack) -> None:
    stack = guarded
    first = await request_disable(stack, "Payroll Restore")
    await click(stack, GROUPIE, first)
    stack.sandbox.inject("usergroups.list", Fault.server_error(503), times=1000)
    stack.fake_clock.advance(5 * 60)
    second = await request_disable(stack, "Web Frontend")
    await click(stack, GROUPIE, second)
    assert action_posts(stack, "Disable") == 2


async def test_a_group_role_with_no_answer_at_all_is_refused_and_says_why(guarded: Stack) -> None:
    stack = guarded
    stack.sandbox.inject("usergroups.list", Fault.error("plan_upgrade_required"), times=1000)
    card = await request_disable(stack, "Payroll Restore")
    await click(stack, GROUPIE, card)
    assert action_posts(stack, "Disable") == 0
    assert "plan_upgrade_required" in stack.ephemerals(GROUPIE)[-1]


async def test_membership_changes_count_once_the_ttl_has_passed(guarded: Stack) -> None:
    stack = guarded
    first = await request_disable(stack, "Payroll Restore")
    await click(stack, GROUPIE, first)
    stack.sandbox.workspace.usergroups["S0APPR"].users.clear()
    stack.fake_clock.advance(61)  # VRO_BOT_GROUP_TTL_SECONDS defaults to 60
    second = await request_disable(stack, "Web Frontend")
    await click(stack, GROUPIE, second)
    assert action_posts(stack, "Disable") == 1
    assert stack.ephemerals(GROUPIE)[-1] == msg.APPROVER_ROLE_REQUIRED.format(role="approver")


# --- 2. the viewer role guards every read ------------------------------------------------------


async def test_the_home_tab_of_someone_without_a_role_asks_for_access_and_shows_no_plan(
    guarded: Stack,
) -> None:
    stack = guarded
    await stack.driver.app_home_opened(user_id=OUTSIDER)
    await stack.driver.app_home_opened(user_id=VIEWER)
    await stack.settle()
    locked = stack.sandbox.workspace.home_view(OUTSIDER)
    shown = stack.sandbox.workspace.home_view(VIEWER)
    assert locked is not None
    assert shown is not None
    text = json.dumps(locked.view)
    assert "Ask whoever runs the bot" in text
    assert not [name for name in plan_names(stack) if name in text]
    assert all(name in json.dumps(shown.view) for name in plan_names(stack))
    refused = [e for e in await audit(stack) if e.actor == OUTSIDER]
    assert [(e.event, e.detail["surface"], e.detail["refusal"]) for e in refused] == [
        ("access_refused", "home", "viewer_role")
    ]


async def test_an_action_from_someone_without_its_role_names_no_plan_and_reads_nothing_from_vro(
    guarded: Stack,
) -> None:
    # The role used to be checked after the plan was resolved: "did you mean" answers listed the
    # plans to someone who may not even list them.
    stack = guarded
    before = len(stack.sim.requests)
    for text in ("failover SAP --reason INC-1", "failover Tier --reason INC-1"):
        await stack.driver.command(text, user_id=OUTSIDER, channel_id=CHANNEL)
    await stack.settle()
    answers = stack.ephemerals(OUTSIDER)
    refusal = msg.ROLE_REQUIRED_TO_REQUEST.format(role="operator", verb="failover")
    assert answers.count(refusal) == 2, answers
    assert not [name for name in plan_names(stack) if any(name in answer for answer in answers)]
    assert [r.path for r in stack.sim.requests[before:] if "/Plans" in r.path] == []
    refused = [e for e in await audit(stack) if e.actor == OUTSIDER]
    assert sorted(
        (e.event, e.detail["surface"], e.detail["refusal"], e.detail["plan_text"]) for e in refused
    ) == [
        ("access_refused", "command.failover", "role", "SAP"),
        ("access_refused", "command.failover", "role", "Tier"),
    ]


async def test_the_form_and_its_plan_picker_show_nothing_to_someone_without_a_role(guarded: Stack) -> None:
    stack = guarded
    await stack.driver.command("", user_id=OUTSIDER, channel_id=CHANNEL)
    await stack.settle()
    form = stack.sandbox.workspace.open_modal(OUTSIDER)
    assert form is not None
    assert "submit" not in form.view, "nothing can be sent from the locked form"
    assert "Ask whoever runs the bot" in json.dumps(form.view)
    assert find_element(form.view["blocks"], ActionId.MODAL_PLAN) is None

    suggested = await stack.driver.suggest(
        user_id=OUTSIDER, action_id=ActionId.MODAL_PLAN, value="SAP", block_id="plan"
    )
    assert suggested.json()["options"] == []
    allowed = await stack.driver.suggest(
        user_id=VIEWER, action_id=ActionId.MODAL_PLAN, value="SAP", block_id="plan"
    )
    assert allowed.json()["options"]


async def test_the_forms_plan_details_are_refused_once_the_viewer_role_is_gone(guarded: Stack) -> None:
    stack = guarded
    await stack.driver.command("", user_id=GROUPIE, channel_id=CHANNEL)
    await stack.settle()
    form = stack.sandbox.workspace.open_modal(GROUPIE)
    assert form is not None
    assert form.view.get("submit")
    stack.sandbox.workspace.usergroups["S0VIEW"].users.clear()
    stack.fake_clock.advance(61)

    plan_id = stack.sim.plan_id("SAP Tier1")
    await stack.driver.click_in_view(
        user_id=GROUPIE, view_id=form.id, action_id=ActionId.MODAL_PLAN, value=plan_id
    )
    await stack.settle()

    updated = stack.sandbox.workspace.views[form.id]
    assert updated.view["callback_id"] == MODAL_CALLBACK_ID
    assert "SAP Tier1" not in json.dumps(updated.view)
    assert "Ask whoever runs the bot" in json.dumps(updated.view)


async def test_plan_view_buttons_are_refused_to_someone_without_a_role(guarded: Stack) -> None:
    stack = guarded
    await stack.driver.command('plan "SAP Tier1"', user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    detail = stack.sandbox.workspace.ephemerals_for(CHANNEL, VIEWER)[-1]
    for verb in ("status", "watch"):
        await stack.driver.click(
            user_id=OUTSIDER,
            channel_id=CHANNEL,
            message_ts=detail.ts,
            action_id=plan_action_id(verb),
            ephemeral=True,
        )
    await stack.settle()
    assert stack.ephemerals(OUTSIDER) == [ROLE_REQUIRED_TO_QUERY.format(role="viewer")] * 2
    assert await count_watches(stack) == 0


async def test_page_buttons_are_refused_to_someone_without_a_role_and_never_ask_for_an_action(
    guarded: Stack,
) -> None:
    stack = guarded
    for _ in range(30):  # thirty refusals: the audit log now has more than one page
        await stack.driver.command("plans", user_id=VIEWER, channel_id=OTHER_CHANNEL)
    await stack.settle()
    await stack.driver.command("audit", user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    listing = stack.sandbox.workspace.ephemerals_for(CHANNEL, VIEWER)[-1]
    assert find_element(listing.blocks, ActionId.PAGE_NEXT) is not None

    await stack.driver.click(
        user_id=OUTSIDER,
        channel_id=CHANNEL,
        message_ts=listing.ts,
        action_id=ActionId.PAGE_NEXT,
        ephemeral=True,
    )
    await stack.settle()
    assert stack.ephemerals(OUTSIDER) == [ROLE_REQUIRED_TO_QUERY.format(role="viewer")]

    forged = rewritten(
        stack.driver.build_click(
            user_id=OPERATOR,
            channel_id=CHANNEL,
            message_ts=listing.ts,
            action_id=ActionId.PAGE_NEXT,
            ephemeral=True,
        ),
        lambda p: p["actions"][0].update(value=json.dumps({"c": 'disable "Payroll Restore"', "p": 1})),
    )
    await stack.driver.send(forged)
    await stack.settle()
    assert stack.ephemerals(OPERATOR) == [STALE_PAGE_BUTTON]
    assert await count_requests(stack) == 0


# --- 3. other workspaces, enterprises and apps ---------------------------------------------------


def foreign_driver(stack: Stack, *, team_id: str | None = None, api_app_id: str | None = None) -> SlackDriver:
    """Signs with the bot's secret, as Slack would, but for another team or app."""
    return SlackDriver(
        http=stack.http,
        signing_secret=OFFLINE_SIGNING_SECRET,
        clock=SystemClock(),
        sandbox=stack.sandbox,
        team_id=team_id,
        api_app_id=api_app_id,
    )


@pytest.mark.parametrize(
    ("identity", "actor_team"),
    [({"team_id": "T0ELSEWHERE"}, "T0ELSEWHERE"), ({"api_app_id": "A0ANOTHER"}, "T0SANDBOX")],
    ids=["another-team", "another-app"],
)
async def test_a_signed_command_from_another_workspace_or_app_is_refused_before_any_work(
    guarded: Stack, identity: dict[str, str], actor_team: str
) -> None:
    stack = guarded
    vro_calls = len(stack.sim.requests)
    response = await foreign_driver(stack, **identity).command(
        'disable "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL
    )
    await stack.settle()
    assert (response.status_code, response.text) == (200, FOREIGN_WORKSPACE)
    assert len(stack.sim.requests) == vro_calls
    assert cards(stack) == []
    assert await count_requests(stack) == 0
    (entry,) = await audit(stack)
    assert (entry.event, entry.actor, entry.actor_team) == ("access_refused", OPERATOR, actor_team)
    assert entry.detail["refusal"] == "workspace"


@pytest.mark.parametrize("form", [{}, {"text": "hello"}], ids=["empty", "not-slack"])
async def test_a_signed_body_with_no_slack_payload_is_a_bad_request_and_runs_nothing(
    guarded: Stack, form: dict[str, str]
) -> None:
    stack = guarded
    vro_calls = len(stack.sim.requests)

    def replace_all(fields: dict[str, Any]) -> None:
        fields.clear()
        fields.update(form)

    request = rewritten(
        stack.driver.build_command('disable "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL),
        replace_all,
    )
    response = await stack.driver.send(request)
    await stack.settle()
    assert (response.status_code, response.text) == (400, NOT_A_SLACK_PAYLOAD)
    assert len(stack.sim.requests) == vro_calls
    assert await count_requests(stack) == 0


async def test_a_command_naming_an_enterprise_is_refused_when_the_bot_is_not_in_one(guarded: Stack) -> None:
    stack = guarded
    request = rewritten(
        stack.driver.build_command('disable "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL),
        lambda form: form.update(enterprise_id="E0GRID"),
    )
    response = await stack.driver.send(request)
    await stack.settle()
    assert response.text == FOREIGN_WORKSPACE
    assert await count_requests(stack) == 0


async def test_an_approve_click_from_another_workspace_is_refused_and_records_nothing(guarded: Stack) -> None:
    stack = guarded
    card = await request_disable(stack, "Payroll Restore")
    response = await foreign_driver(stack, team_id="T0ELSEWHERE").click(
        user_id=LEAD1, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.APPROVE
    )
    await stack.settle()
    assert response.status_code == 403
    view = await stack.bot.approvals.get(request_id_on(card))
    assert view is not None
    assert view.approvers == ()
    assert action_posts(stack, "Disable") == 0


async def test_the_audit_log_records_the_team_of_every_actor(guarded: Stack) -> None:
    stack = guarded
    card = await request_disable(stack, "Payroll Restore")
    await click(stack, LEAD1, card)
    entries = await audit(stack)
    assert {e.event for e in entries} >= {"requested", "approval", "vro_accepted"}
    assert {e.actor_team for e in entries} == {stack.sandbox.workspace.team_id}


# --- 4. the channel allow-list on every surface that acts or posts ---------------------------------


async def test_a_watch_button_reporting_a_channel_outside_the_list_starts_nothing(guarded: Stack) -> None:
    stack = guarded
    await stack.driver.command('plan "SAP Tier1"', user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    detail = stack.sandbox.workspace.ephemerals_for(CHANNEL, VIEWER)[-1]
    click_ = stack.driver.build_click(
        user_id=VIEWER,
        channel_id=CHANNEL,
        message_ts=detail.ts,
        action_id=plan_action_id("watch"),
        ephemeral=True,
    )
    await stack.driver.send(rewritten(click_, in_channel(OTHER_CHANNEL)))
    await stack.settle()
    await stack.pump()
    assert await count_watches(stack) == 0
    assert stack.sandbox.workspace.top_level(OTHER_CHANNEL) == []
    assert stack.ephemerals(VIEWER)[-1] == msg.CHANNEL_NOT_ALLOWED


async def test_a_page_button_reporting_a_channel_outside_the_list_is_refused(guarded: Stack) -> None:
    stack = guarded
    for _ in range(30):
        await stack.driver.command("plans", user_id=VIEWER, channel_id=OTHER_CHANNEL)
    await stack.settle()
    await stack.driver.command("audit", user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    listing = stack.sandbox.workspace.ephemerals_for(CHANNEL, VIEWER)[-1]
    page = stack.driver.build_click(
        user_id=VIEWER,
        channel_id=CHANNEL,
        message_ts=listing.ts,
        action_id=ActionId.PAGE_NEXT,
        ephemeral=True,
    )
    await stack.driver.send(rewritten(page, in_channel(OTHER_CHANNEL)))
    await stack.settle()
    assert stack.ephemerals(VIEWER)[-1] == msg.CHANNEL_NOT_ALLOWED


async def test_a_decision_counts_the_cards_own_channel_never_the_one_the_click_reports(
    guarded: Stack,
) -> None:
    stack = guarded
    card = await request_disable(stack, "Payroll Restore")
    # The click claims another channel: the card's channel (allowed) is what counts.
    approve = stack.driver.build_click(
        user_id=LEAD1, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.APPROVE
    )
    await stack.driver.send(rewritten(approve, in_channel(OTHER_CHANNEL)))
    await stack.settle()
    assert action_posts(stack, "Disable") == 1

    # A card whose stored channel is outside the list takes no decision, whatever the click says.
    second = await request_disable(stack, "Web Frontend")
    await stack.bot.approvals.attach_card(request_id_on(second), OTHER_CHANNEL, second.ts)
    await click(stack, LEAD1, second)
    assert action_posts(stack, "Disable") == 1
    assert stack.ephemerals(LEAD1)[-1] == msg.CHANNEL_NOT_ALLOWED
    refused = [e for e in await audit(stack) if e.event == "decision_refused"]
    assert [e.detail["refusal"] for e in refused] == ["channel"]


# --- 5. one request per delivery ------------------------------------------------------------------


async def test_a_command_delivered_twice_is_answered_once(guarded: Stack) -> None:
    stack = guarded
    request = stack.driver.build_command('disable "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL)
    first = await stack.driver.send(request)
    again = await stack.driver.send(request)
    retried = await stack.driver.send(
        SlackRequest(
            **{
                **request.__dict__,
                "headers": {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
            }
        )
    )
    await stack.settle()
    assert [r.status_code for r in (first, again, retried)] == [200, 200, 200]
    assert len(cards(stack)) == 1
    assert await count_requests(stack) == 1


async def test_two_identical_deliveries_arriving_at_once_make_one_request(guarded: Stack) -> None:
    stack = guarded
    request = stack.driver.build_command('disable "Payroll Restore"', user_id=OPERATOR, channel_id=CHANNEL)
    responses = await asyncio.gather(*(stack.driver.send(request) for _ in range(2)))
    await stack.settle()
    assert [r.status_code for r in responses] == [200, 200]
    assert len(cards(stack)) == 1
    assert await count_requests(stack) == 1


async def test_a_form_submission_sent_three_times_makes_one_request(guarded: Stack) -> None:
    stack = guarded
    await stack.driver.command("", user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    form = stack.sandbox.workspace.open_modal(OPERATOR)
    assert form is not None
    plan_id = stack.sim.plan_id("Web Frontend")
    await choose(stack, OPERATOR, form, ActionId.MODAL_PLAN, plan_id)
    form = stack.sandbox.workspace.views[form.id]
    await choose(stack, OPERATOR, form, ActionId.MODAL_ACTION, "Disable", also={ActionId.MODAL_PLAN: plan_id})
    form = stack.sandbox.workspace.views[form.id]
    submission = stack.driver.build_view_submission(
        user_id=OPERATOR,
        view_id=form.id,
        values={ActionId.MODAL_PLAN: plan_id, ActionId.MODAL_ACTION: "Disable"},
    )
    responses = await asyncio.gather(*(stack.driver.send(submission) for _ in range(3)))
    await stack.settle()
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert await count_requests(stack) == 1
    assert len(cards(stack)) == 1


async def test_a_command_is_answered_at_once_when_slack_rate_limits_the_bot_s_identity(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Until the bot knows its workspace, a request learns it (``auth.test``) before the ack.
    With ``vro-bot run``'s Slack client (which waits out 429s) and Slack answering 429, that is
    one try, and the person is told to try again, not to reinstall the app; once Slack answers,
    the next command is served."""
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(AUTHZ_POLICY),
        users={OPERATOR: "olivia"},
        channels={CHANNEL: "dr-war-room"},
        instance_id="identity-429",
        slack_retries=True,
        identify=False,
    ) as offline:
        stack = Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})
        stack.sandbox.inject("auth.test", Fault.rate_limited(retry_after=3600), times=1)
        # A guard, not a wait: without the fix the ack waits out Retry-After (twice).
        async with asyncio.timeout(10):
            refused = await stack.driver.command("plans", user_id=OPERATOR, channel_id=CHANNEL)
        assert (refused.status_code, refused.text) == (200, IDENTITY_UNKNOWN)
        assert stack.sandbox.log.count("auth.test") == 1  # one try, no retry
        served = await stack.driver.command("plans", user_id=OPERATOR, channel_id=CHANNEL)
        await stack.settle()
        assert served.status_code == 200
        assert IDENTITY_UNKNOWN not in served.text
        assert stack.ephemerals(OPERATOR)[-1].startswith("Plans: ")
        assert stack.sandbox.log.count("auth.test") == 2
