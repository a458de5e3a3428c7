"""Nobody left guessing: the whole bot is abandoned at each point of the pipeline, on SQLite and
PostgreSQL, and a fresh bot on the same database ends the story with exactly one visible outcome.

What outlives a crash is what outlives a real one: the database, VRO (the simulator) and Slack
(the sandbox). The abandoned bot is never shut down (no lease given back, nothing drained); a
fresh one with another instance id starts on the same database, as after ``kill -9``.

The outcome is one of: the run's summary (VRO ran the action), a plain notice that VRO shows no
run, or a plain notice that the request was approved but never sent (with a Send button). Never
two of them, never none, and never a second POST to VRO.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from bot.approvals.policy import Policy
from bot.approvals.status import RequestStatus
from bot.approvals.store import DEFAULT_CLAIM_TTL
from bot.approvals.tables import ActionRequest
from bot.clock import FakeClock, SystemClock
from bot.migrate import upgrade
from bot.offline import OFFLINE_SIGNING_SECRET, offline_settings
from bot.outbox.store import get_message
from bot.outbox.tables import STATUS_PENDING, OutboxMessage
from bot.runtime import Bot, build_bot
from bot.sandbox.driver import SlackDriver
from bot.sandbox.models import Message
from bot.sandbox.server import RunningSandbox, create_sandbox, serve_sandbox
from bot.simulator.app import Simulator, create_simulator
from bot.slack.announce import card_key
from bot.slack.blocks.kit import ActionId
from bot.slack.controller import Invoker
from bot.watcher.service import WatcherConfig
from bot.watcher.tables import STATUS_ACTIVE, STATUS_SENDING, Watch

CHANNEL = "C0DRROOM"
OPERATOR, LEAD = "U0OPS1", "U0LEAD1"
PLAN = "Web Frontend"
POLICY = f"""
channels: [{CHANNEL}]
roles:
  viewer:   {{users: ["*"]}}
  operator: {{users: [{OPERATOR}]}}
  approver: {{users: [{LEAD}]}}
defaults: {{role: operator, approvals: 1, approver_role: approver, ttl_minutes: 30}}
"""
CONFIG = WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0, no_run_seconds=120.0)
RESTART_SECONDS = DEFAULT_CLAIM_TTL.total_seconds() + 5  # the time a restart takes, at least

SUMMARY = f"of {PLAN} finished: "
NO_RUN = "VRO shows no run of"
HELD = "was approved but *not sent*"
OUTCOMES = (SUMMARY, NO_RUN, HELD)


class Crash(BaseException):
    """The process dying: nothing in the bot catches it."""


class CrashingTransport(httpx.AsyncBaseTransport):
    """VRO's transport; ``crash`` says whether to die before or after a request reaches VRO."""

    def __init__(self, inner: httpx.AsyncBaseTransport, crash: Callable[[httpx.Request], str | None]) -> None:
        self._inner = inner
        self._crash = crash

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        when = self._crash(request)
        if when == "before":
            raise Crash(request.url.path)
        response = await self._inner.handle_async_request(request)
        if when == "after":
            await response.aread()
            raise Crash(request.url.path)
        return response


def is_failover_post(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.lower().endswith("/failover")


@dataclass
class World:
    """What outlives the bot: the database, VRO and Slack."""

    database_url: str
    clock: FakeClock
    sim: Simulator
    running: RunningSandbox

    async def bot(
        self, instance: str, crash: Callable[[httpx.Request], str | None] = lambda _r: None
    ) -> tuple[Bot, SlackDriver, httpx.AsyncClient]:
        settings = offline_settings(database_url=self.database_url, slack_api_url=self.running.api_url)
        bot = await build_bot(
            settings,
            clock=self.clock,
            vro_transport=CrashingTransport(httpx.ASGITransport(app=self.sim), crash),
            policy=Policy.from_yaml(POLICY),
            instance_id=instance,
            watcher_config=CONFIG,
            slack_retries=False,
        )
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=bot.http), base_url="http://bot")
        driver = SlackDriver(
            http=http,
            signing_secret=OFFLINE_SIGNING_SECRET,
            clock=SystemClock(),
            sandbox=self.running.sandbox,
        )
        return bot, driver, http

    def posts(self) -> int:
        return sum(
            1 for r in self.sim.requests if r.method == "POST" and r.path.lower().endswith("/failover")
        )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    upgrade(database_url)
    clock = FakeClock()
    sandbox = create_sandbox(
        clock=clock,
        users={OPERATOR: "olivia", LEAD: "lee"},
        channels={CHANNEL: "dr-war-room"},
        tokens=frozenset({"xoxb-offline-sandbox"}),
    )
    with serve_sandbox(sandbox) as running:
        yield World(
            database_url=database_url, clock=clock, sim=create_simulator(clock=clock), running=running
        )


async def abandon(bot: Bot, http: httpx.AsyncClient | None = None) -> None:
    """Drop the bot as ``kill -9`` would: no lease given back, nothing drained or sent.

    Only its connections are closed (the test process must not leak them); the database keeps
    exactly what the bot had committed.
    """
    await bot.work.cancel_all()
    if http is not None:
        await http.aclose()
    await bot.vro.aclose()
    await bot.engine.dispose()


async def request_and_card(bot: Bot, driver: SlackDriver) -> str:
    await driver.command(f'failover "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await bot.work.drain()
    await bot.sender.run_until_idle(max_seconds=60)
    (pending,) = await bot.approvals.pending()
    return pending.id


async def click_approve(bot: Bot, driver: SlackDriver, world: World) -> None:
    card = world.running.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")[-1]
    await driver.click(user_id=LEAD, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve")
    await bot.work.drain()


async def finish_on_a_fresh_bot(world: World) -> Bot:
    """Restart on the same database and run every loop until nothing is left to do."""
    world.clock.advance(RESTART_SECONDS)
    bot, _driver, http = await world.bot("fresh")
    await bot.approvals.reconcile_unknown()  # what start_background does first
    for _ in range(200):
        await bot.approvals.heartbeat()
        await bot.approvals.reconcile_unknown()
        await bot.watcher.poll_once()
        await bot.sender.run_until_idle(max_seconds=600)
        if await quiet(bot):
            break
        world.clock.advance(CONFIG.poll_seconds)
    else:
        raise AssertionError("the fresh bot never settled")
    await http.aclose()
    return bot


async def quiet(bot: Bot) -> bool:
    async with bot.sessions() as session:
        watching = await session.scalar(
            select(func.count()).select_from(Watch).where(Watch.status.in_([STATUS_ACTIVE, STATUS_SENDING]))
        )
        sending = await session.scalar(
            select(func.count())
            .select_from(ActionRequest)
            .where(ActionRequest.status.in_([RequestStatus.EXECUTING, RequestStatus.APPROVED]))
            .where(ActionRequest.held_at.is_(None))
        )
        queued = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == STATUS_PENDING)
        )
    return not watching and not sending and not queued


async def thread_of_card(bot: Bot, world: World, request_id: str) -> list[Message]:
    async with bot.sessions() as session:
        card = await get_message(session, card_key(request_id))
    assert card is not None, "the approval card was never written"
    assert card.ts is not None, "the approval card never reached Slack"
    return world.running.sandbox.workspace.thread(CHANNEL, card.ts)


async def outcomes(bot: Bot, world: World, request_id: str) -> list[str]:
    thread = await thread_of_card(bot, world, request_id)
    return [marker for m in thread for marker in OUTCOMES if marker in m.text]


async def run_until(bot: Bot, world: World, done: Callable[[], bool], *, send: bool) -> None:
    for _ in range(200):
        world.clock.advance(CONFIG.poll_seconds)
        await bot.watcher.poll_once()
        if send:
            await bot.sender.send_due()
        if done():
            return
    raise AssertionError("never got there")


async def watch_status(bot: Bot) -> str:
    async with bot.sessions() as session:
        status = await session.scalar(select(Watch.status).order_by(Watch.id.desc()).limit(1))
    return str(status)


# --- the crash points ---------------------------------------------------------------------------


async def test_crash_after_the_decision_was_recorded_tells_the_channel_it_was_not_sent(world: World) -> None:
    bot, driver, http = await world.bot("first")
    request_id = await request_and_card(bot, driver)
    await bot.controller.record_decision(Invoker(LEAD, CHANNEL), request_id, True)  # then the ack, then death
    await abandon(bot, http)

    fresh = await finish_on_a_fresh_bot(world)
    assert await outcomes(fresh, world, request_id) == [HELD]
    assert world.posts() == 0
    card = world.running.sandbox.workspace.find_message_with_action(CHANNEL, "vro_send")
    assert len(card) == 1  # the card offers Send; nothing is sent by surprise
    await abandon(fresh)


async def test_crash_while_reading_the_plan_before_the_claim_holds_the_request(world: World) -> None:
    bot, driver, http = await world.bot(
        "first", crash=lambda r: "before" if r.method == "GET" and "RuntimeDetails" in r.url.path else None
    )
    request_id = await request_and_card(bot, driver)
    await click_approve(bot, driver, world)
    await abandon(bot, http)

    fresh = await finish_on_a_fresh_bot(world)
    assert await outcomes(fresh, world, request_id) == [HELD]
    assert world.posts() == 0
    await abandon(fresh)


async def test_crash_after_the_claim_before_vro_got_the_post_ends_with_a_no_run_notice(world: World) -> None:
    bot, driver, http = await world.bot("first", crash=lambda r: "before" if is_failover_post(r) else None)
    request_id = await request_and_card(bot, driver)
    await click_approve(bot, driver, world)
    await abandon(bot, http)

    fresh = await finish_on_a_fresh_bot(world)
    assert await outcomes(fresh, world, request_id) == [NO_RUN]
    thread = "\n".join(m.text for m in await thread_of_card(fresh, world, request_id))
    assert "can't tell whether VRO started it" in thread  # told at once, then what VRO showed
    assert world.posts() == 0
    await abandon(fresh)


async def test_crash_with_the_post_in_flight_is_never_resent_and_reaches_the_summary(world: World) -> None:
    bot, driver, http = await world.bot("first", crash=lambda r: "after" if is_failover_post(r) else None)
    request_id = await request_and_card(bot, driver)
    await click_approve(bot, driver, world)
    await abandon(bot, http)

    fresh = await finish_on_a_fresh_bot(world)
    assert await outcomes(fresh, world, request_id) == [SUMMARY]
    assert world.posts() == 1
    await abandon(fresh)


@pytest.mark.parametrize("point", ["vro answered", "watch active", "mid-narration", "summary written"])
async def test_crash_after_vro_answered_reaches_exactly_one_summary(world: World, point: str) -> None:
    bot, driver, http = await world.bot("first")
    request_id = await request_and_card(bot, driver)
    await click_approve(bot, driver, world)  # VRO's answer and the active watch are committed
    if point == "watch active":
        await bot.sender.run_until_idle(max_seconds=60)
    elif point == "mid-narration":
        await bot.sender.run_until_idle(max_seconds=60)
        polls = bot.watcher.stats.polls
        await run_until(bot, world, lambda: bot.watcher.stats.polls >= polls + 3, send=True)
    elif point == "summary written":
        status: list[str] = []

        def finished() -> bool:
            return bool(status) and status[-1] == "finished"

        for _ in range(200):
            world.clock.advance(CONFIG.poll_seconds)
            await bot.watcher.poll_once()
            status.append(await watch_status(bot))
            if finished():
                break
        assert finished()
    await abandon(bot, http)

    fresh = await finish_on_a_fresh_bot(world)
    assert await outcomes(fresh, world, request_id) == [SUMMARY]
    assert world.posts() == 1
    await abandon(fresh)


async def test_a_held_request_sent_with_the_send_button_reaches_its_summary(world: World) -> None:
    bot, driver, http = await world.bot("first")
    request_id = await request_and_card(bot, driver)
    await bot.controller.record_decision(Invoker(LEAD, CHANNEL), request_id, True)
    await abandon(bot, http)
    fresh = await finish_on_a_fresh_bot(world)
    await abandon(fresh)

    again, driver, http = await world.bot("again")
    (card,) = world.running.sandbox.workspace.find_message_with_action(CHANNEL, "vro_send")
    await driver.click(
        user_id=LEAD, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_send", value=request_id
    )
    await again.work.drain()
    await abandon(again, http)
    final = await finish_on_a_fresh_bot(world)
    assert await outcomes(final, world, request_id) == [HELD, SUMMARY]
    assert world.posts() == 1
    await abandon(final)


async def told_once_after_restart(world: World, text: str) -> None:
    """A restart a minute later tells the operator, once, that ``/vro <text>`` may not have gone through."""
    world.clock.advance(61)
    fresh, _driver, http = await world.bot("fresh")
    assert await fresh.tell_interrupted_commands() == 1
    assert await fresh.tell_interrupted_commands() == 0  # told once
    told = [m.text for m in world.running.sandbox.workspace.ephemerals_for(CHANNEL, OPERATOR)]
    assert any(f"handling `/vro {text}`" in t for t in told), told
    await abandon(fresh, http)


async def test_a_command_acknowledged_then_interrupted_is_owned_up_to_after_the_restart(world: World) -> None:
    """The command was written down before its ack; the person is told it may not have gone through."""
    bot, driver, http = await world.bot(
        "first", crash=lambda r: "before" if r.method == "GET" and r.url.path.endswith("/Plans") else None
    )
    await driver.command(f'failover "{PLAN}"', user_id=OPERATOR, channel_id=CHANNEL)
    await bot.work.drain()
    await abandon(bot, http)
    assert world.running.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []

    await told_once_after_restart(world, f'failover "{PLAN}"')


async def test_a_form_acknowledged_then_interrupted_is_owned_up_to_after_the_restart(world: World) -> None:
    """The form (``/vro`` alone) is written down before its ack too; having no response_url, the
    person is told in an ephemeral message in the channel."""
    dying = {"now": False}
    bot, driver, http = await world.bot("first", crash=lambda r: "before" if dying["now"] else None)
    await driver.command("", user_id=OPERATOR, channel_id=CHANNEL)
    await bot.work.drain()
    form = world.running.sandbox.workspace.open_modal(OPERATOR)
    assert form is not None
    plan_id = world.sim.plan_id(PLAN)
    await driver.click_in_view(
        user_id=OPERATOR, view_id=form.id, action_id=ActionId.MODAL_PLAN, value=plan_id, state={}
    )
    await bot.work.drain()
    await driver.click_in_view(
        user_id=OPERATOR,
        view_id=form.id,
        action_id=ActionId.MODAL_ACTION,
        value="Failover",
        state={ActionId.MODAL_PLAN: plan_id},
    )
    await bot.work.drain()
    dying["now"] = True  # the process dies at its next call to VRO, after the form's ack
    response = await driver.submit_view(
        user_id=OPERATOR,
        view_id=form.id,
        values={ActionId.MODAL_PLAN: plan_id, ActionId.MODAL_ACTION: "Failover"},
    )
    assert response.status_code == 200
    await bot.work.drain()
    await abandon(bot, http)
    assert world.running.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve") == []

    await told_once_after_restart(world, f'failover "{plan_id}"')


async def test_a_command_carried_out_is_not_reported_as_interrupted(world: World) -> None:
    bot, driver, http = await world.bot("first")
    await request_and_card(bot, driver)
    world.clock.advance(61)
    assert await bot.tell_interrupted_commands() == 0
    await abandon(bot, http)
