"""Policy roles by Slack user group, resolved through the real Web API client and the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import FakeClock
from bot.sandbox.server import RunningSandbox, create_sandbox, serve_sandbox
from bot.slack.groups import SlackGroupResolver

TOKEN = "xoxb-groups-test"


@pytest.fixture
def running(clock: FakeClock) -> Iterator[RunningSandbox]:
    sandbox = create_sandbox(clock=clock, users={"U1": "lee", "U2": "priya"}, tokens=frozenset({TOKEN}))
    sandbox.workspace.add_usergroup("S1", "dr-approvers", ["U1", "U2"])
    with serve_sandbox(sandbox) as served:
        yield served


async def test_a_handle_resolves_to_its_members_with_or_without_at(running: RunningSandbox) -> None:
    resolver = SlackGroupResolver(client=AsyncWebClient(token=TOKEN, base_url=running.api_url))
    assert await resolver.members("dr-approvers") == frozenset({"U1", "U2"})
    assert await resolver.members("@DR-Approvers") == frozenset({"U1", "U2"})


async def test_an_unknown_handle_grants_nobody(running: RunningSandbox) -> None:
    resolver = SlackGroupResolver(client=AsyncWebClient(token=TOKEN, base_url=running.api_url))
    assert await resolver.members("dr-everyone") == frozenset()
