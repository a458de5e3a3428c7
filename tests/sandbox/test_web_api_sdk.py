"""The real slack_sdk clients against the sandbox served on loopback."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox import Fault, RunningSandbox, SlackSandbox
from tests.sandbox.conftest import OPS, QUIET, TOKEN


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


async def test_not_in_channel_raises_slack_api_error(running: RunningSandbox) -> None:
    client = client_for(running)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=QUIET, text="hello")
    assert raised.value.response["error"] == "not_in_channel"


async def test_a_token_that_is_not_a_bot_token_is_invalid_auth(running: RunningSandbox) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client_for(running, token="xoxp-user").auth_test()
    assert raised.value.response["error"] == "invalid_auth"


async def test_injected_fault_answers_once(running: RunningSandbox, sandbox: SlackSandbox) -> None:
    sandbox.inject("chat.postMessage", Fault.error("not_in_channel"))
    client = client_for(running)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=OPS, text="x")
    assert (await client.chat_postMessage(channel=OPS, text="y"))["ok"]
    assert [c.error for c in sandbox.log.calls("chat.postMessage")] == ["not_in_channel", None]
