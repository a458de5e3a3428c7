"""The bot's own workspace from auth.test (through the sandbox), and deliveries recorded once across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.db import create_engine, session_factory
from bot.sandbox.faults import Fault
from bot.sandbox.server import RunningSandbox, create_sandbox, serve_sandbox
from bot.slack.deliveries import DeliveryLog, is_retry
from bot.slack.origin import BotIdentity, IdentityUnknown, Workspace, slack_identity

TOKEN = "xoxb-identity-test"


@pytest.fixture
def running(clock: FakeClock) -> Iterator[RunningSandbox]:
    with serve_sandbox(create_sandbox(clock=clock, tokens=frozenset({TOKEN}))) as served:
        yield served


def client(running: RunningSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=running.api_url)


async def test_auth_test_tells_the_bot_its_team_and_app(running: RunningSandbox) -> None:
    workspace = await BotIdentity(slack_identity(client(running))).workspace()
    ws = running.sandbox.workspace
    assert workspace == Workspace(
        team_id=ws.team_id, app_id=ws.app_id, bot_user_id=ws.bot_user_id, bot_id=ws.bot_id
    )


async def test_without_an_app_id_in_auth_test_the_app_comes_from_bots_info(running: RunningSandbox) -> None:
    ws = running.sandbox.workspace
    answer = {"ok": True, "team_id": ws.team_id, "user_id": ws.bot_user_id, "bot_id": ws.bot_id}
    running.sandbox.inject("auth.test", Fault(status=200, body=answer))
    workspace = await BotIdentity(slack_identity(client(running))).workspace()
    assert workspace.app_id == ws.app_id
    assert running.sandbox.log.count("bots.info", ok=True) == 1


async def test_when_bots_info_is_refused_too_the_app_stays_unknown_and_the_team_still_counts(
    running: RunningSandbox,
) -> None:
    ws = running.sandbox.workspace
    answer = {"ok": True, "team_id": ws.team_id, "user_id": ws.bot_user_id, "bot_id": ws.bot_id}
    running.sandbox.inject("auth.test", Fault(status=200, body=answer))
    running.sandbox.inject("bots.info", Fault.error("missing_scope", needed="users:read"))
    workspace = await BotIdentity(slack_identity(client(running))).workspace()
    assert (workspace.team_id, workspace.app_id) == (ws.team_id, None)


async def test_a_failed_auth_test_is_retried_on_next_use_and_learned_once(running: RunningSandbox) -> None:
    running.sandbox.inject("auth.test", Fault.server_error(503))
    identity = BotIdentity(slack_identity(client(running)))
    with pytest.raises(IdentityUnknown, match="SLACK_BOT_TOKEN"):
        await identity.workspace()
    assert identity.team_id is None
    await asyncio.gather(*(identity.workspace() for _ in range(5)))
    assert identity.team_id == running.sandbox.workspace.team_id
    assert running.sandbox.log.count("auth.test", ok=True) == 1


async def test_two_replicas_recording_the_same_delivery_at_once_let_exactly_one_through(
    migrated_database_url: str, clock: FakeClock
) -> None:
    """Each replica has its own engine (its own connections): only the database can decide."""
    engines = [create_engine(migrated_database_url) for _ in range(2)]
    try:
        logs = [DeliveryLog(sessions=session_factory(e), clock=clock) for e in engines]
        for round_ in range(5):
            key = f"command:T0:trigger-{round_}"
            results = await asyncio.gather(*(log.first(key) for log in logs for _ in range(3)))
            assert sorted(results) == [False] * 5 + [True]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_old_deliveries_are_forgotten_after_an_hour(
    db_sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    log = DeliveryLog(sessions=db_sessions, clock=clock)
    assert await log.first("event:T0:Ev1")
    clock.advance(30 * 60)
    assert await log.first("event:T0:Ev2")
    clock.advance(31 * 60)
    assert await log.forget_old(older_than=timedelta(hours=1)) == 1
    assert await log.first("event:T0:Ev1")  # forgotten: it would count as new now
    assert not await log.first("event:T0:Ev2")


def test_slacks_retry_header_marks_a_retry() -> None:
    assert is_retry({"x-slack-retry-num": ["1"]})
    assert is_retry({"x-slack-retry-num": "2"})
    assert not is_retry({})
    assert not is_retry({"x-slack-retry-num": []})
    assert not is_retry({"x-slack-retry-num": "0"})  # a Socket Mode envelope's first delivery
