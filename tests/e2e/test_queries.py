"""Query verbs answered end to end: signed command in, Block Kit reply out (ephemeral)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from bot.outbox.tables import OutboxMessage
from tests.e2e.conftest import CHANNEL, VIEWER, Stack


async def test_plans_lists_every_plan_of_the_simulator(stack: Stack) -> None:
    response = await stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    assert response.status_code == 200
    await stack.settle()
    replies = stack.ephemerals(VIEWER)
    assert len(replies) == 1
    for plan in stack.sim.core.estate.plans:
        assert plan.name in str(stack.sandbox.workspace.ephemerals_for(CHANNEL, VIEWER)[0].blocks)


@pytest.mark.parametrize(
    "text",
    [
        'plan "SAP Tier1"',
        'groups "SAP Tier1"',
        'vms "SAP Tier1"',
        'steps "SAP Tier1"',
        'status "SAP Tier1"',
        "locations",
        "scopes",
        "license",
        "approvals",
        "audit",
        "help",
        "help failover",
    ],
)
async def test_each_query_gets_one_reply(stack: Stack, text: str) -> None:
    response = await stack.driver.command(text, user_id=VIEWER, channel_id=CHANNEL)
    assert response.status_code == 200
    await stack.settle()
    replies = stack.ephemerals(VIEWER)
    assert len(replies) == 1, replies
    assert replies[0].strip()
    assert "went wrong" not in replies[0]


async def send_with_a_dead_response_url(stack: Stack, text: str) -> httpx.Response:
    """``/vro <text>`` as the viewer, its response_url pointing at a port nobody listens on."""
    request = stack.driver.build_command(text, user_id=VIEWER, channel_id=CHANNEL)
    broken = request.body.replace(
        b"response_url=http", b"response_url=http%3A%2F%2F127.0.0.1%3A9%2Fx&old=http"
    )
    return await stack.driver.send(type(request)(**{**request.__dict__, "body": broken}))


async def test_a_public_answer_whose_response_url_fails_goes_to_the_channel_through_the_outbox(
    stack: Stack,
) -> None:
    """Every message to a channel goes through the outbox: a public answer too, when Slack's
    response_url host fails and the bot posts it itself."""
    response = await send_with_a_dead_response_url(stack, "scopes --public")
    assert response.status_code == 200
    await stack.settle()
    async with stack.bot.sessions() as session:
        rows = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.key.startswith("reply:")))
        ).all()
    assert [(row.channel, row.status) for row in rows] == [(CHANNEL, "sent")]
    assert rows[0].ts in [m.ts for m in stack.sandbox.workspace.top_level(CHANNEL)]
    assert stack.ephemerals(VIEWER) == []


async def test_an_unreachable_response_url_falls_back_to_an_ephemeral_message(stack: Stack) -> None:
    """Slack's response_url host failing must not leave the person without an answer."""
    response = await send_with_a_dead_response_url(stack, "scopes")
    assert response.status_code == 200
    await stack.settle()
    assert len(stack.ephemerals(VIEWER)) == 1
