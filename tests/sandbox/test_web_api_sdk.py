"""The real slack_sdk clients (AsyncWebClient over aiohttp, WebhookClient over urllib) against
the sandbox served on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

from bot.clock import FakeClock
from bot.sandbox import Fault, RunningSandbox, SlackSandbox, serve_sandbox
from bot.sandbox.retry import ClockRateLimitRetryHandler
from bot.sandbox.server import DEFAULT_BASE_URL
from tests.sandbox.conftest import ALICE, BOB, OPS, QUIET, TOKEN

CARD_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Failover* of SAP Tier1"}},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "vro_approve",
                "value": "r1",
                "text": {"type": "plain_text", "text": "Approve"},
            }
        ],
    },
]


def client_for(running: RunningSandbox, token: str = TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=running.api_url)


async def test_post_message_returns_increasing_ts_and_stores_the_message(
    running: RunningSandbox, sandbox: SlackSandbox
) -> None:
    client = client_for(running)
    first = await client.chat_postMessage(channel=OPS, text="one")
    second = await client.chat_postMessage(channel=OPS, text="two")
    assert first["ok"]
    assert second["ok"]
    assert first["channel"] == OPS
    assert float(second["ts"]) > float(first["ts"])
    assert [m.text for m in sandbox.workspace.top_level(OPS)] == ["one", "two"]


async def test_thread_replies_are_listed_under_their_parent(running: RunningSandbox) -> None:
    client = client_for(running)
    parent = await client.chat_postMessage(channel=OPS, text="card", blocks=CARD_BLOCKS)
    await client.chat_postMessage(channel=OPS, text="step 1", thread_ts=parent["ts"])
    await client.chat_postMessage(channel=OPS, text="done", thread_ts=parent["ts"], reply_broadcast=True)

    replies = await client.conversations_replies(channel=OPS, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["card", "step 1", "done"]
    assert replies["messages"][0]["reply_count"] == 2
    history = await client.conversations_history(channel=OPS)
    # newest first; the broadcast reply also shows in the channel
    assert [m["text"] for m in history["messages"]] == ["done", "card"]
    assert history["messages"][0]["subtype"] == "thread_broadcast"


async def test_update_keeps_blocks_when_omitted_and_needs_an_existing_message(
    running: RunningSandbox,
) -> None:
    client = client_for(running)
    posted = await client.chat_postMessage(channel=OPS, text="pending", blocks=CARD_BLOCKS)
    updated = await client.chat_update(channel=OPS, ts=posted["ts"], text="approved")
    assert updated["message"]["text"] == "approved"
    assert [b["type"] for b in updated["message"]["blocks"]] == ["section", "actions"]

    cleared = await client.chat_update(channel=OPS, ts=posted["ts"], text="approved", blocks=[])
    assert "blocks" not in cleared["message"]
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel=OPS, ts="1.000001", text="nope")
    assert raised.value.response["error"] == "message_not_found"


async def test_429_with_retry_after_then_success_through_the_rate_limit_retry_handler(
    running: RunningSandbox, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    """slack_sdk's own 429 decision; the wait happens on the fake clock, not in real time."""
    sandbox.inject("chat.postMessage", Fault.rate_limited(retry_after=0))
    handler = ClockRateLimitRetryHandler(clock=clock, max_retry_count=2)
    client = client_for(running)
    client.retry_handlers.append(handler)

    response = await client.chat_postMessage(channel=OPS, text="after the 429")

    assert response["ok"]
    assert handler.waits == [0]
    statuses = [(c.status, c.retry_after) for c in sandbox.log.calls("chat.postMessage")]
    assert statuses == [(429, 0), (200, None)]


async def test_429_without_a_handler_surfaces_status_and_retry_after(
    running: RunningSandbox, sandbox: SlackSandbox
) -> None:
    sandbox.inject("chat.postMessage", Fault.rate_limited(retry_after=7))
    with pytest.raises(SlackApiError) as raised:
        await client_for(running).chat_postMessage(channel=OPS, text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert raised.value.response.headers["Retry-After"] == "7"


async def test_server_error_fault_is_an_http_500(running: RunningSandbox, sandbox: SlackSandbox) -> None:
    sandbox.inject("chat.update", Fault.server_error())
    with pytest.raises(SlackApiError) as raised:
        await client_for(running).chat_update(channel=OPS, ts="1.000001", text="x")
    assert raised.value.response.status_code == 500


async def test_not_in_channel_raises_slack_api_error(running: RunningSandbox) -> None:
    client = client_for(running)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=QUIET, text="hello")
    assert raised.value.response["error"] == "not_in_channel"


async def test_chat_write_public_allows_posting_in_a_public_channel_without_joining(
    running: RunningSandbox, sandbox: SlackSandbox
) -> None:
    sandbox.workspace.chat_write_public = True
    response = await client_for(running).chat_postMessage(channel=QUIET, text="hello")
    assert response["ok"]


async def test_a_token_that_is_not_a_bot_token_is_invalid_auth(running: RunningSandbox) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client_for(running, token="xoxp-user").auth_test()
    assert raised.value.response["error"] == "invalid_auth"


async def test_auth_test_names_the_bot(running: RunningSandbox, sandbox: SlackSandbox) -> None:
    response = await client_for(running).auth_test()
    assert response["user_id"] == sandbox.workspace.bot_user_id
    assert response["team_id"] == sandbox.workspace.team_id


async def test_injected_fault_answers_once(running: RunningSandbox, sandbox: SlackSandbox) -> None:
    sandbox.inject("chat.postMessage", Fault.error("not_in_channel"))
    client = client_for(running)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=OPS, text="x")
    assert (await client.chat_postMessage(channel=OPS, text="y"))["ok"]
    assert [c.error for c in sandbox.log.calls("chat.postMessage")] == ["not_in_channel", None]


async def test_metadata_round_trips_through_conversations_replies(running: RunningSandbox) -> None:
    """The outbox's crash recovery finds its key in the thread only with include_all_metadata."""
    client = client_for(running)
    parent = await client.chat_postMessage(channel=OPS, text="card")
    metadata = {"event_type": "vro_outbox", "event_payload": {"key": "watch-7:step-3"}}
    await client.chat_postMessage(channel=OPS, text="step 3 done", thread_ts=parent["ts"], metadata=metadata)

    with_metadata = await client.conversations_replies(
        channel=OPS, ts=parent["ts"], include_all_metadata=True
    )
    without = await client.conversations_replies(channel=OPS, ts=parent["ts"])

    assert with_metadata["messages"][1]["metadata"] == metadata
    assert "metadata" not in without["messages"][1]


async def test_user_groups_and_users(running: RunningSandbox) -> None:
    client = client_for(running)
    groups = await client.usergroups_list(include_users=True)
    assert [(g["handle"], g["users"]) for g in groups["usergroups"]] == [("dr-approvers", [BOB])]
    assert (await client.usergroups_users_list(usergroup="S0APPROVERS"))["users"] == [BOB]
    with pytest.raises(SlackApiError) as raised:
        await client.usergroups_users_list(usergroup="S0NOPE")
    assert raised.value.response["error"] == "no_such_subteam"
    assert (await client.users_info(user=ALICE))["user"]["name"] == "alice"


async def test_views_open_within_three_seconds_but_not_after(
    running: RunningSandbox, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    client = client_for(running)
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Run a plan"}, "blocks": []}
    fresh = sandbox.issue_trigger(ALICE)
    clock.advance(2.9)
    opened = await client.views_open(trigger_id=fresh, view=modal)
    assert opened["view"]["id"] == sandbox.workspace.open_modal(ALICE).id  # type: ignore[union-attr]

    stale = sandbox.issue_trigger(ALICE)
    clock.advance(3.1)
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=stale, view=modal)
    assert raised.value.response["error"] == "expired_trigger_id"


async def test_views_publish_stores_the_home_tab(running: RunningSandbox, sandbox: SlackSandbox) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Plans"}}]}
    response = await client_for(running).views_publish(user_id=ALICE, view=home)
    assert response["view"]["type"] == "home"
    assert sandbox.workspace.home_view(ALICE) is not None


def test_webhook_client_replaces_the_original_and_the_sixth_use_is_refused(
    running: RunningSandbox, sandbox: SlackSandbox
) -> None:
    card = sandbox.workspace.post_message(channel=OPS, text="card", blocks=CARD_BLOCKS)
    url = sandbox.new_response_url(channel=OPS, user=ALICE, source="message", message_ts=card.ts)
    webhook = WebhookClient(url)

    first = webhook.send(text="Approved by <@U0BOB>", replace_original=True)
    assert (first.status_code, first.body) == (200, "ok")
    assert sandbox.workspace.message(OPS, card.ts).text == "Approved by <@U0BOB>"
    for n in range(4):
        assert webhook.send(text=f"note {n}", response_type="ephemeral").status_code == 200

    sixth = webhook.send(text="one too many")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    hook = sandbox.hook_for_url(url)
    assert [p.outcome for p in hook.posts] == ["replaced", "ephemeral", "ephemeral", "ephemeral", "ephemeral"]
    assert len(sandbox.workspace.ephemerals_for(OPS, ALICE)) == 4


def test_the_loopback_server_stops_cleanly_and_frees_its_port(sandbox: SlackSandbox) -> None:
    with serve_sandbox(sandbox) as served:
        assert sandbox.base_url == served.base_url
        assert httpx.get(f"{served.api_url}auth.test").json() == {"ok": False, "error": "not_authed"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.api_url}auth.test")
    assert sandbox.base_url == DEFAULT_BASE_URL
