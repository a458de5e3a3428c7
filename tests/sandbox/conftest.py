"""Sandbox fixtures: a small workspace on a fake clock, in-process or served on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clock import FakeClock
from bot.sandbox import RunningSandbox, SlackSandbox, create_sandbox, serve_sandbox

TOKEN = "xoxb-sandbox-test"
ALICE = "U0ALICE"
BOB = "U0BOB"
OPS = "C0OPS"
QUIET = "C0QUIET"


@pytest.fixture
def sandbox(clock: FakeClock) -> SlackSandbox:
    """Alice and Bob; #ops-dr with the bot in it; #quiet without the bot."""
    box = create_sandbox(clock=clock, users={ALICE: "alice", BOB: "bob"}, channels={OPS: "ops-dr"})
    box.workspace.add_channel(QUIET, "quiet", bot_is_member=False)
    box.workspace.add_usergroup("S0APPROVERS", "dr-approvers", [BOB])
    return box


@pytest.fixture
def running(sandbox: SlackSandbox) -> Iterator[RunningSandbox]:
    """The sandbox served on 127.0.0.1 (uvicorn in a background thread)."""
    with serve_sandbox(sandbox) as served:
        yield served
