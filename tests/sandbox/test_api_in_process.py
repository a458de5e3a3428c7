"""The sandbox's Web API in-process (httpx.ASGITransport): body forms, auth, Slack's error codes,
faults, the per-channel rate limit and the call log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.clock import FakeClock
from bot.sandbox import Fault, SlackSandbox
from tests.sandbox.conftest import ALICE, BOB, OPS, QUIET, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http(sandbox: SlackSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=sandbox.base_url) as client:
        yield client


async def call(http: httpx.AsyncClient, method: str, **params: Any) -> dict[str, Any]:
    response = await http.post(f"/api/{method}", json=params, headers=AUTH)
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_json_form_and_query_bodies_are_all_accepted_and_unknown_params_ignored(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    as_json = await call(http, "chat.postMessage", channel=OPS, text="json", team_id="T-extra")
    as_form = (
        await http.post(
            "/api/chat.postMessage",
            data={
                "channel": OPS,
                "text": "form",
                "blocks": json.dumps([{"type": "divider"}]),
                "team_id": "T",
            },
            headers=AUTH,
        )
    ).json()
    as_query = (
        await http.get("/api/conversations.history", params={"channel": OPS, "limit": "1"}, headers=AUTH)
    ).json()

    assert as_json["ok"]
    assert as_form["ok"]
    assert as_form["message"]["blocks"][0]["type"] == "divider"
    assert [m["text"] for m in as_query["messages"]] == ["form"]
    assert as_query["has_more"] is True
    assert sandbox.log.calls("chat.postMessage")[0].params["team_id"] == "T-extra"


async def test_missing_or_wrong_authorization_is_refused(http: httpx.AsyncClient) -> None:
    missing = (await http.post("/api/auth.test")).json()
    user_token = (await http.post("/api/auth.test", headers={"Authorization": "Bearer xoxp-1"})).json()
    assert missing == {"ok": False, "error": "not_authed"}
    assert user_token == {"ok": False, "error": "invalid_auth"}


async def test_only_configured_tokens_are_accepted(clock: FakeClock) -> None:
    sandbox = SlackSandbox(clock=clock, tokens=frozenset({"xoxb-right"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url="http://s") as http:
        wrong = await http.post("/api/auth.test", headers={"Authorization": "Bearer xoxb-wrong"})
        right = await http.post("/api/auth.test", headers={"Authorization": "Bearer xoxb-right"})
    assert wrong.json()["error"] == "invalid_auth"
    assert right.json()["ok"] is True


async def test_unknown_method_answers_unknown_method(http: httpx.AsyncClient) -> None:
    assert (await call(http, "chat.scheduleMessage"))["error"] == "unknown_method"


async def test_message_errors_use_slack_codes(http: httpx.AsyncClient) -> None:
    assert (await call(http, "chat.postMessage", channel="C0NOPE", text="x"))["error"] == "channel_not_found"
    assert (await call(http, "chat.postMessage", channel=OPS))["error"] == "no_text"
    assert (await call(http, "chat.postMessage", channel=OPS, text="x", thread_ts="1.000001"))[
        "error"
    ] == "thread_not_found"
    too_many = [{"type": "divider"}] * 51
    assert (await call(http, "chat.postMessage", channel=OPS, text="x", blocks=too_many))[
        "error"
    ] == "invalid_blocks"
    bad_metadata = {"event_type": "x"}
    assert (await call(http, "chat.postMessage", channel=OPS, text="x", metadata=bad_metadata))[
        "error"
    ] == "invalid_metadata_format"


async def test_a_reply_to_a_reply_lands_in_the_parents_thread(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    parent = await call(http, "chat.postMessage", channel=OPS, text="parent")
    reply = await call(http, "chat.postMessage", channel=OPS, text="reply", thread_ts=parent["ts"])
    nested = await call(http, "chat.postMessage", channel=OPS, text="nested", thread_ts=reply["ts"])
    assert nested["message"]["thread_ts"] == parent["ts"]
    assert [m.text for m in sandbox.workspace.thread(OPS, parent["ts"])] == ["reply", "nested"]


async def test_replies_filter_by_oldest_but_keep_the_parent(http: httpx.AsyncClient) -> None:
    parent = await call(http, "chat.postMessage", channel=OPS, text="parent")
    first = await call(http, "chat.postMessage", channel=OPS, text="first", thread_ts=parent["ts"])
    await call(http, "chat.postMessage", channel=OPS, text="second", thread_ts=parent["ts"])
    listed = await call(http, "conversations.replies", channel=OPS, ts=parent["ts"], oldest=first["ts"])
    assert [m["text"] for m in listed["messages"]] == ["parent", "second"]


async def test_history_pages_with_cursors(http: httpx.AsyncClient) -> None:
    for n in range(5):
        await call(http, "chat.postMessage", channel=OPS, text=f"m{n}")
    seen: list[str] = []
    cursor = ""
    while True:
        page = await call(http, "conversations.history", channel=OPS, limit=2, cursor=cursor)
        seen.extend(m["text"] for m in page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


async def test_history_needs_the_bot_in_the_channel(http: httpx.AsyncClient) -> None:
    assert (await call(http, "conversations.history", channel=QUIET))["error"] == "not_in_channel"


async def test_ephemeral_messages_need_a_member_and_cannot_be_updated(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    sandbox.workspace.add_channel("C0SMALL", "small", members=[ALICE])
    posted = await call(http, "chat.postEphemeral", channel="C0SMALL", user=ALICE, text="psst")
    assert posted["ok"]
    assert (await call(http, "chat.postEphemeral", channel="C0SMALL", user=BOB, text="psst"))[
        "error"
    ] == "user_not_in_channel"
    assert (await call(http, "chat.update", channel="C0SMALL", ts=posted["message_ts"], text="x"))[
        "error"
    ] == "message_not_found"


async def test_permalink_points_at_the_message(http: httpx.AsyncClient) -> None:
    posted = await call(http, "chat.postMessage", channel=OPS, text="card")
    link = await call(http, "chat.getPermalink", channel=OPS, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{OPS}/p{posted['ts'].replace('.', '')}")


async def test_conversations_info_reports_membership(http: httpx.AsyncClient) -> None:
    info = await call(http, "conversations.info", channel=QUIET)
    assert (info["channel"]["name"], info["channel"]["is_member"]) == ("quiet", False)


async def test_a_free_workspace_has_no_user_groups(http: httpx.AsyncClient, sandbox: SlackSandbox) -> None:
    sandbox.workspace.usergroups_enabled = False
    assert (await call(http, "usergroups.list"))["error"] == "plan_upgrade_required"


async def test_views_push_update_and_hash_conflict(
    http: httpx.AsyncClient, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Step"}, "blocks": []}
    opened = await call(http, "views.open", trigger_id=sandbox.issue_trigger(ALICE), view=modal)
    view_id = opened["view"]["id"]
    assert (await call(http, "views.open", trigger_id="1.2.3", view=modal))["error"] == "invalid_trigger_id"

    for _ in range(2):
        assert (await call(http, "views.push", trigger_id=sandbox.issue_trigger(ALICE), view=modal))["ok"]
    third = await call(http, "views.push", trigger_id=sandbox.issue_trigger(ALICE), view=modal)
    assert third["error"] == "push_limit_reached"

    stale_hash = opened["view"]["hash"]
    clock.advance(1)
    updated = await call(http, "views.update", view_id=view_id, view=modal)
    assert updated["ok"]
    assert (await call(http, "views.update", view_id=view_id, view=modal, hash=stale_hash))[
        "error"
    ] == "hash_conflict"
    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    assert (await call(http, "views.update", view_id=view_id, view=long_title))[
        "error"
    ] == "invalid_arguments"


async def test_a_trigger_can_be_exchanged_once(http: httpx.AsyncClient, sandbox: SlackSandbox) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Once"}, "blocks": []}
    trigger = sandbox.issue_trigger(ALICE)
    assert (await call(http, "views.open", trigger_id=trigger, view=modal))["ok"]
    assert (await call(http, "views.open", trigger_id=trigger, view=modal))["error"] == "exchanged_trigger_id"


async def test_hook_delete_original_removes_the_message(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    card = sandbox.workspace.post_message(channel=OPS, text="card")
    url = sandbox.new_response_url(channel=OPS, user=ALICE, source="message", message_ts=card.ts)
    response = await http.post(url.removeprefix(sandbox.base_url), json={"delete_original": True})
    assert (response.status_code, response.text) == (200, "ok")
    assert sandbox.workspace.top_level(OPS) == []


async def test_hook_in_channel_posts_in_the_thread_asked_for(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    card = sandbox.workspace.post_message(channel=OPS, text="card")
    url = sandbox.new_response_url(channel=OPS, user=ALICE)
    body = {"text": "VRO accepted the failover", "response_type": "in_channel", "thread_ts": card.ts}
    await http.post(url.removeprefix(sandbox.base_url), json=body)
    [reply] = sandbox.workspace.thread(OPS, card.ts)
    assert reply.text == "VRO accepted the failover"
    hook = sandbox.hook_for_url(url)
    assert hook.posts[0].body["response_type"] == "in_channel"
    assert hook.posts[0].outcome == "posted"


async def test_hook_expires_after_thirty_minutes(
    http: httpx.AsyncClient, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    url = sandbox.new_response_url(channel=OPS, user=ALICE)
    clock.advance(30 * 60 + 1)
    response = await http.post(url.removeprefix(sandbox.base_url), json={"text": "late"})
    assert (response.status_code, response.text) == (404, "expired_url")


async def test_faults_for_any_method_and_for_response_urls(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    sandbox.inject("*", Fault.server_error(503))
    sandbox.inject("response_url", Fault.server_error())
    first = await http.post("/api/auth.test", headers=AUTH)
    hook = await http.post(
        sandbox.new_response_url(channel=OPS, user=ALICE).removeprefix(sandbox.base_url), json={}
    )
    assert (first.status_code, first.json()["error"]) == (503, "service_unavailable")
    assert hook.status_code == 500
    assert (await http.post("/api/auth.test", headers=AUTH)).status_code == 200


async def test_sustained_rate_limit_answers_429_with_retry_after_per_channel(
    http: httpx.AsyncClient, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    sandbox.workspace.add_channel("C0OTHER", "other")
    limit = sandbox.set_channel_rate_limit(per_second=1.0, burst=2)

    statuses = []
    for _ in range(3):
        response = await http.post("/api/chat.postMessage", json={"channel": OPS, "text": "x"}, headers=AUTH)
        statuses.append((response.status_code, response.headers.get("retry-after")))
    other = await http.post("/api/chat.postMessage", json={"channel": "C0OTHER", "text": "x"}, headers=AUTH)
    clock.advance(1.0)
    after_wait = await http.post("/api/chat.postMessage", json={"channel": OPS, "text": "x"}, headers=AUTH)

    assert statuses == [(200, None), (200, None), (429, "1")]
    assert other.status_code == 200
    assert after_wait.status_code == 200
    assert limit.rejected == 1
    assert [c.retry_after for c in sandbox.log.calls("chat.postMessage", ok=False)] == [1]


async def test_wait_for_returns_once_the_call_is_recorded(
    http: httpx.AsyncClient, sandbox: SlackSandbox
) -> None:
    await call(http, "chat.postMessage", channel=OPS, text="x")
    [record] = await sandbox.log.wait_for("chat.postMessage")
    assert record.params["text"] == "x"
    with pytest.raises(TimeoutError, match=r"expected 1 call\(s\) of views.open"):
        await sandbox.log.wait_for("views.open", within_seconds=0.01)
