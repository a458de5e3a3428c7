"""The main flows in Socket Mode: the bot connects to the sandbox's websocket with its app token
and receives commands, clicks, form submissions and events as envelopes, which it acks there.

The same stack as the HTTP tests (simulator, sandbox, real Bolt app, outbox, watcher); only
the way Slack reaches the bot differs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import fields, replace
from pathlib import Path

import pytest
from slack_sdk.errors import SlackApiError

from bot.approvals.policy import Policy
from bot.clock import FakeClock, SystemClock
from bot.offline import OFFLINE_SIGNING_SECRET, offline_stack
from bot.sandbox.driver import SlackDriver
from bot.sandbox.requests import SlackRequest
from bot.slack.blocks.kit import ActionId
from bot.watcher.service import WatcherConfig
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, OTHER_CHANNEL, POLICY, VIEWER, Stack
from tests.e2e.test_approvals import action_posts
from tests.e2e.test_authz import request_id_on
from tests.e2e.test_narration import approve_latest_card, run_until_stable, thread_text


def seen_by(stack: Stack, user: str) -> str:
    """Everything ``user`` was shown privately in the channel, text and blocks."""
    return "\n".join(
        m.text + json.dumps(m.blocks) for m in stack.sandbox.workspace.ephemerals_for(CHANNEL, user)
    )


@pytest.fixture
async def socket_stack(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=Policy.from_yaml(POLICY),
        users={OPERATOR: "olivia", LEAD1: "lee", LEAD2: "priya", VIEWER: "sam"},
        channels={CHANNEL: "dr-war-room", OTHER_CHANNEL: "random"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        instance_id="e2e-socket",
        socket_mode=True,
    ) as offline:
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})


async def test_the_bot_connects_with_its_app_token_and_is_ready(socket_stack: Stack) -> None:
    hub = socket_stack.sandbox.socket_mode
    assert hub.open_connections == 1
    opened = socket_stack.sandbox.log.calls("apps.connections.open", ok=True)
    assert len(opened) == 1
    response = await socket_stack.http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["slack"]["ok"] is True


async def test_there_is_no_unsigned_slack_endpoint_in_socket_mode(socket_stack: Stack) -> None:
    """Bolt does not verify signatures in Socket Mode, so /slack/events must not exist at all."""
    response = await socket_stack.http.post("/slack/events", content=b"command=/vro&text=plans")
    assert response.status_code == 404


async def test_a_query_is_acked_over_the_socket_and_answered(socket_stack: Stack) -> None:
    response = await socket_stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    await socket_stack.settle()

    assert response.status_code == 200
    envelope = socket_stack.sandbox.socket_mode.envelopes[-1]
    assert envelope.type == "slash_commands"
    assert envelope.acked
    assert "SAP Tier1" in seen_by(socket_stack, VIEWER)


async def test_a_mistake_is_answered_in_the_ack(socket_stack: Stack) -> None:
    await socket_stack.driver.command('failovr "SAP Tier1"', user_id=OPERATOR, channel_id=CHANNEL)

    assert "Did you mean" in socket_stack.ephemerals(OPERATOR)[-1]


async def test_a_failover_is_approved_by_clicks_and_narrated_to_its_summary(socket_stack: Stack) -> None:
    stack = socket_stack
    await stack.driver.command('failover "SAP Tier1" --reason "INC-7"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    await approve_latest_card(stack, LEAD1)
    card = await approve_latest_card(stack, LEAD2)
    await run_until_stable(stack, "SAP Tier1")

    assert action_posts(stack, "Failover") == 1
    text = thread_text(stack, card.ts)
    for group in stack.sim.plan("SAP Tier1").spec.groups:
        assert group.name in text
    assert any("finished" in t for t in stack.top_level())
    kinds = [e.type for e in stack.sandbox.socket_mode.envelopes]
    assert kinds == ["slash_commands", "interactive", "interactive"]
    assert all(e.acked for e in stack.sandbox.socket_mode.envelopes)


async def test_the_form_opens_and_its_submission_is_acked_with_errors(socket_stack: Stack) -> None:
    stack = socket_stack
    await stack.driver.command("", user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    modal = stack.sandbox.workspace.open_modal(OPERATOR)
    assert modal is not None

    response = await stack.driver.submit_view(user_id=OPERATOR, view_id=modal.id, values={})

    body = response.json()
    assert body["response_action"] == "errors"


async def test_app_home_opened_arrives_as_an_event_and_publishes_the_home_tab(socket_stack: Stack) -> None:
    stack = socket_stack
    await stack.driver.app_home_opened(user_id=LEAD1)
    await stack.settle()

    assert stack.sandbox.socket_mode.envelopes[-1].type == "events_api"
    home = stack.sandbox.workspace.home_view(LEAD1)
    assert home is not None
    assert "SAP Tier1" in json.dumps(home.view)


async def test_after_slack_asks_for_a_refresh_the_bot_reconnects_and_keeps_answering(
    socket_stack: Stack,
) -> None:
    stack = socket_stack
    hub = stack.sandbox.socket_mode

    await hub.refresh()
    await stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()

    assert len(stack.sandbox.log.calls("apps.connections.open", ok=True)) == 2
    assert hub.envelopes[-1].connection == 2
    assert hub.envelopes[-1].acked
    assert "SAP Tier1" in seen_by(stack, VIEWER)


def approve_click(stack: Stack, user: str, *, retry_attempt: int | None = None) -> SlackRequest:
    """An Approve click on the latest card, as Slack delivers it (``retry_attempt`` on a redelivery)."""
    card = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")[-1]
    click = stack.driver.build_click(
        user_id=user, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve"
    )
    if retry_attempt is None:
        return click
    retry = {"X-Slack-Retry-Num": str(retry_attempt), "X-Slack-Retry-Reason": "timeout"}
    return replace(click, headers={**click.headers, **retry})


@pytest.mark.parametrize("retry_attempt", [0, 1])
async def test_an_approve_click_redelivered_after_its_first_delivery_was_lost_is_recorded(
    socket_stack: Stack, retry_attempt: int
) -> None:
    """Slack redelivers an envelope that was never acked (the socket died under it) with
    ``retry_attempt``; the bot acks it, so it must record the click, not take it for a copy."""
    stack = socket_stack
    await stack.driver.command('disable "Web Frontend"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()

    await stack.driver.send(approve_click(stack, LEAD1, retry_attempt=retry_attempt))
    await stack.settle()

    assert stack.sandbox.socket_mode.envelopes[-1].acked
    assert action_posts(stack, "Disable") == 1


async def test_an_approve_click_delivered_twice_is_carried_out_and_answered_once(socket_stack: Stack) -> None:
    stack = socket_stack
    await stack.driver.command('disable "Web Frontend"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    click = approve_click(stack, LEAD1)
    await stack.driver.send(click)
    await stack.settle()
    told = len(stack.ephemerals(LEAD1))

    await stack.driver.send(
        replace(click, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    )
    await stack.settle()

    assert action_posts(stack, "Disable") == 1
    assert len(stack.ephemerals(LEAD1)) == told  # the copy is not answered a second time


async def test_a_command_delivered_again_is_not_reported_as_interrupted(socket_stack: Stack) -> None:
    """The copy of a request-creating command is acked and does nothing; its request was carried
    out by the first delivery, so nobody is told later that the bot "restarted while handling" it."""
    stack = socket_stack
    command = stack.driver.build_command('disable "Web Frontend"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.driver.send(command)
    await stack.driver.send(
        replace(command, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    )
    await stack.settle()
    assert len(stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")) == 1

    stack.fake_clock.advance(61)

    assert await stack.bot.tell_interrupted_commands() == 0


async def test_an_app_token_revoked_while_running_shows_as_refused_in_readyz(socket_stack: Stack) -> None:
    """The connection's own reconnects (after a drop, a refresh, a ``disconnect``) ask Slack for a
    new URL; when Slack refuses the app token then, ``/readyz`` says so, and recovers with it."""
    stack = socket_stack
    hub = stack.sandbox.socket_mode
    link = stack.bot.socket_mode
    assert link is not None
    renew = link._handler.client.issue_new_wss_url  # what the handler calls to reconnect

    hub.app_tokens = frozenset({"xapp-another-token"})  # revoked
    with pytest.raises(SlackApiError):
        await renew()
    refused = await stack.http.get("/readyz")

    hub.app_tokens = None
    await renew()
    ready = await stack.http.get("/readyz")

    assert refused.status_code == 503
    assert "Slack refused the app token (invalid_auth)" in refused.json()["checks"]["slack"]["error"]
    assert ready.status_code == 200, ready.text


async def test_a_click_from_another_workspace_is_acked_refused_and_changes_nothing(
    socket_stack: Stack,
) -> None:
    """Only a 200 acks an envelope: a refusal that is final must be one, or Slack sends it again."""
    stack = socket_stack
    await stack.driver.command('failover "SAP Tier1" --reason "INC-7"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    (card,) = stack.sandbox.workspace.find_message_with_action(CHANNEL, ActionId.APPROVE)
    foreign = SlackDriver(
        http=stack.http,
        signing_secret=OFFLINE_SIGNING_SECRET,
        clock=SystemClock(),
        sandbox=stack.sandbox,
        socket=stack.sandbox.socket_mode,
        team_id="T0ELSEWHERE",
    )
    await foreign.click(user_id=LEAD1, channel_id=CHANNEL, message_ts=card.ts, action_id=ActionId.APPROVE)
    await stack.settle()
    assert stack.sandbox.socket_mode.envelopes[-1].acked
    view = await stack.bot.approvals.get(request_id_on(card))
    assert view is not None
    assert view.approvers == ()
