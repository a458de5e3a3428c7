"""Outbox fixtures: the sandbox Slack served on loopback and a real Slack poster pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clock import FakeClock
from bot.outbox.slack_poster import SlackWebPoster
from bot.sandbox.server import RunningSandbox, create_sandbox, serve_sandbox

CHANNEL = "C0DR"
OTHER_CHANNEL = "C0OTHER"
OUTSIDE_CHANNEL = "C0OUTSIDE"  # the bot is not a member


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[RunningSandbox]:
    """The sandbox Slack on a loopback port, on the test's fake clock."""
    sandbox = create_sandbox(clock=clock, channels={CHANNEL: "dr-ops", OTHER_CHANNEL: "dr-other"})
    sandbox.workspace.add_channel(OUTSIDE_CHANNEL, "elsewhere", bot_is_member=False, is_private=True)
    with serve_sandbox(sandbox) as running:
        yield running


@pytest.fixture
def poster(slack: RunningSandbox) -> SlackWebPoster:
    return SlackWebPoster.from_token("xoxb-test", base_url=slack.api_url)
