"""Acceptance: restarts, Slack 429 storms, two replicas, announce mode, stopping, poll economy."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from bot.outbox.sender import OutboxSender
from bot.outbox.tables import OutboxMessage
from bot.sandbox.faults import Fault
from bot.simulator.estate import PlanSpec
from bot.vro.models import (
    ExecutionDetail,
    GroupRuntimeDetails,
    Page,
    PlanRuntimeDetails,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.watcher.service import Watcher, WatcherConfig
from bot.watcher.source import RuntimeSource
from tests.watcher.conftest import ANNOUNCE, CHANNEL, TEST_CONFIG, Stack, message_text, vm_tokens


def spec(stack: Stack, name: str) -> PlanSpec:
    return next(p for p in stack.sim.estate.plans if p.name == name)


def posted_keys(stack: Stack) -> list[str]:
    return [
        c.params["metadata"]["event_payload"]["key"]
        for c in stack.slack.sandbox.log.calls("chat.postMessage", ok=True)
    ]


def assert_complete_and_unique(stack: Stack, plan: str, thread: list[Any]) -> None:
    """Every step of every VM finished exactly once in the thread; nothing posted twice."""
    tokens = vm_tokens(thread)
    for group in spec(stack, plan).groups:
        for vm in group.vms:
            finished = Counter(t for t in tokens[vm.name] if t[:1] in "✓⚠✗")
            assert sorted(t[2:] for t in finished) == sorted(s.name for s in vm.steps), vm.name
            assert set(finished.values()) == {1}, (vm.name, finished)
    keys = posted_keys(stack)
    assert len(keys) == len(set(keys))


def event_ranges(thread: list[Any]) -> list[tuple[int, int]]:
    out = []
    for message in thread:
        key = (message.metadata or {}).get("event_payload", {}).get("key", "")
        found = re.match(r"watch:\d+:events:(\d+)-(\d+):\d+$", key)
        if found:
            out.append((int(found.group(1)), int(found.group(2))))
    return out


def assert_no_gap(thread: list[Any]) -> None:
    """The thread's event messages cover sequence numbers 1..n, in order, without holes."""
    ranges = event_ranges(thread)
    firsts = [first for first, _ in ranges]
    assert firsts == sorted(firsts)  # posted in order
    expected = 1
    for first, last in sorted(set(ranges)):
        assert first == expected, ranges
        expected = last + 1


class CrashingSource:
    """The VRO client, until the process dies in the middle of a poll (after ``after`` calls)."""

    def __init__(self, inner: RuntimeSource, after: int) -> None:
        self.inner = inner
        self.calls = 0
        self.after = after

    def _tick(self) -> None:
        self.calls += 1
        if self.calls > self.after:
            raise Crash

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails:
        self._tick()
        return await self.inner.get_plan_runtime(plan_id)

    async def get_groups_runtime(
        self, plan_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[GroupRuntimeDetails]:
        self._tick()
        return await self.inner.get_groups_runtime(plan_id, start=start, limit=limit)

    async def get_group_vms_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[VmRuntimeDetails]:
        self._tick()
        return await self.inner.get_group_vms_runtime(plan_id, group_id, start=start, limit=limit)

    async def get_group_steps_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]:
        self._tick()
        return await self.inner.get_group_steps_runtime(plan_id, group_id, start=start, limit=limit)

    async def get_vm_steps_runtime(
        self, plan_id: str, vm_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]:
        self._tick()
        return await self.inner.get_vm_steps_runtime(plan_id, vm_id, start=start, limit=limit)

    async def get_step_runtime(self, plan_id: str, step_id: str) -> Page[ExecutionDetail]:
        self._tick()
        return await self.inner.get_step_runtime(plan_id, step_id)


class Crash(BaseException):
    """The bot process dying (not an Exception: nothing in the bot catches it)."""


@pytest.mark.parametrize("crash_mid_poll", [False, True], ids=["between-polls", "mid-poll"])
async def test_a_restart_mid_run_resumes_in_the_same_thread_with_no_duplicate_and_no_gap(
    stack: Stack, crash_mid_poll: bool
) -> None:
    plan = "Web Frontend"
    plan_id = stack.sim.plan_id(plan)
    await stack.vro.failover(plan_id)
    doomed = Watcher(
        session_factory=stack.sessions,
        source=CrashingSource(stack.vro, after=10_000 if not crash_mid_poll else 25),
        clock=stack.clock,
        config=TEST_CONFIG,
        owner="before-restart",
    )
    watch_id = await doomed.start_watch(plan_id, CHANNEL, action="Failover", requested_by="U1")
    crashed = False
    for _ in range(12):
        stack.clock.advance(5)
        try:
            await doomed.poll_once()
        except Crash:
            crashed = True
            break
        await stack.sender.send_due()
    assert crashed == crash_mid_poll
    # The process is gone (no release of its lease). A new one starts on the same database.
    sender = OutboxSender(
        session_factory=stack.sessions, poster=stack.poster, clock=stack.clock, owner="sender-2"
    )
    stack.sender = sender
    revived = stack.new_watcher(owner="after-restart")
    await stack.until(watch_id, watcher=revived)
    await sender.run_until_idle()
    thread = await stack.thread(watch_id)
    assert_complete_and_unique(stack, plan, thread)
    assert_no_gap(thread)
    assert posted_keys(stack).count(f"watch:{watch_id}:card") == 1  # one status card, one thread
    assert "finished" in message_text(thread[-1])


async def test_a_storm_of_slack_429s_delays_the_narration_but_loses_and_repeats_nothing(stack: Stack) -> None:
    plan = "Web Frontend"
    plan_id = stack.sim.plan_id(plan)
    stack.slack.sandbox.set_channel_rate_limit(per_second=0.5, burst=1)
    stack.slack.sandbox.inject("chat.postMessage", Fault.rate_limited(retry_after=4), times=15)
    stack.slack.sandbox.inject("chat.update", Fault.rate_limited(retry_after=4), times=5)
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL, action="Failover")
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    thread = await stack.thread(watch_id)
    assert stack.sender.stats.rate_limited >= 20
    assert_complete_and_unique(stack, plan, thread)
    assert_no_gap(thread)
    assert thread[-1].reply_broadcast


async def test_two_watchers_on_one_database_watch_each_plan_once(stack: Stack) -> None:
    plans = ["Web Frontend", "Web Frontend Cache", "Exchange Failover"]
    other = stack.new_watcher(owner="w2")
    ids = []
    for name in plans:
        plan_id = stack.sim.plan_id(name)
        await stack.vro.failover(plan_id)
        ids.append(await stack.watcher.start_watch(plan_id, CHANNEL, action="Failover"))
    for _ in range(400):
        stack.clock.advance(5)
        await asyncio.gather(stack.watcher.poll_once(), other.poll_once())
        await stack.sender.send_due()
        if [(await stack.row(i)).status for i in ids] == ["finished"] * len(ids):
            break
    await stack.sender.run_until_idle()
    for watch_id in ids:
        pollers = [w.owner for w in (stack.watcher, other) if w.stats.polled[watch_id]]
        assert len(pollers) == 1, (watch_id, pollers)
    for name, watch_id in zip(plans, ids, strict=True):
        assert_complete_and_unique(stack, name, await stack.thread(watch_id))


async def test_a_watcher_whose_lease_was_taken_over_writes_nothing(stack: Stack) -> None:
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL)
    await stack.tick()
    stack.clock.advance(TEST_CONFIG.lease_seconds + 1)  # w1 looks dead
    other = stack.new_watcher(owner="w2")
    assert await other.poll_once() == 1
    assert await stack.watcher.poll_once() == 0  # w1 is back, but the watch is w2's now
    row = await stack.row(watch_id)
    assert row.lease_owner == "w2"


async def test_announce_mode_opens_one_watch_for_a_plan_started_outside_slack(stack: Stack) -> None:
    config = WatcherConfig(**{**TEST_CONFIG.__dict__, "announce_channel": ANNOUNCE})
    watcher = stack.new_watcher(owner="announcer", config=config, plans=stack.vro)
    plan_id = stack.sim.plan_id("Web Frontend Cache")
    assert await watcher.announce_once() == []
    await stack.vro.failover(plan_id)  # someone used the VRO console
    stack.clock.advance(1)
    (watch_id,) = await watcher.announce_once()
    assert await watcher.announce_once() == []
    row = await stack.row(watch_id)
    assert (row.channel, row.plan_name) == (ANNOUNCE, "Web Frontend Cache")
    await watcher.stop_watch(plan_id, ANNOUNCE, stopped_by="U9")
    assert await watcher.announce_once() == []  # stopped by a human: not reopened for this run
    await stack.sender.run_until_idle()
    thread = await stack.thread(watch_id, ANNOUNCE)
    assert "Stopped watching *Web Frontend Cache* (asked by <@U9>)" in message_text(thread[-1])


async def test_stopping_a_watch_writes_out_what_was_seen_and_polls_no_more(stack: Stack) -> None:
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL)
    await stack.tick()
    await stack.tick()
    assert await stack.watcher.stop_watch(plan_id, CHANNEL, stopped_by="U7")
    assert not await stack.watcher.stop_watch(plan_id, CHANNEL)
    await stack.sender.run_until_idle()
    requests = stack.watcher.stats.vro_requests
    await stack.tick(60)
    assert stack.watcher.stats.vro_requests == requests
    thread = await stack.thread(watch_id)
    assert "asked by <@U7>" in message_text(thread[-1])
    card = stack.slack.sandbox.workspace.message(CHANNEL, await stack.root_ts(watch_id))
    assert "No longer watched" in message_text(card)
    assert_no_gap(thread)


async def test_starting_a_watch_twice_keeps_one_watch_and_one_card(stack: Stack) -> None:
    plan_id = stack.sim.plan_id("Web Frontend")
    first = await stack.watcher.start_watch(plan_id, CHANNEL)
    second = await stack.watcher.start_watch(plan_id, CHANNEL)
    assert first == second
    await stack.sender.run_until_idle()
    assert stack.slack.sandbox.log.count("chat.postMessage") == 1


async def test_a_watch_under_an_approval_card_narrates_in_that_thread(stack: Stack) -> None:
    approval = stack.slack.sandbox.workspace.post_message(channel=CHANNEL, text="Failover approved")
    plan_id = stack.sim.plan_id("Web Frontend Cache")
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(
        plan_id, CHANNEL, parent_ts=approval.ts, action="Failover", requested_by="U1", approved_by=["U2"]
    )
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    thread = stack.slack.sandbox.workspace.thread(CHANNEL, approval.ts)
    assert "Failover: Web Frontend Cache" in message_text(thread[0])  # the status card, first reply
    assert "finished" in message_text(thread[-1])
    assert thread[-1].reply_broadcast
    in_channel = stack.slack.sandbox.workspace.top_level(CHANNEL)
    assert [m.ts for m in in_channel if not m.reply_broadcast] == [approval.ts]  # only the summary shows too


async def test_polling_reads_only_what_moved_and_a_halted_plan_costs_one_request(stack: Stack) -> None:
    plan = "SAP Tier1"
    plan_id = stack.sim.plan_id(plan)
    await stack.vro.failover(plan_id)
    await stack.watcher.start_watch(plan_id, CHANNEL)
    groups = len(spec(stack, plan).groups)
    vms = sum(len(g.vms) for g in spec(stack, plan).groups)
    naive = 0
    for _ in range(20):
        before = stack.watcher.stats.vro_requests
        await stack.tick()
        used = stack.watcher.stats.vro_requests - before
        assert used <= 2 + groups + vms  # never more than plan + groups + what moved
        naive += 2 + groups + vms
    assert stack.watcher.stats.vro_requests < naive / 2
    await stack.vro.halt_plan(plan_id)
    for _ in range(3):
        await stack.tick(30)
    before = stack.watcher.stats.vro_requests
    await stack.tick(60)
    assert stack.watcher.stats.vro_requests - before == 1  # halted and unchanged: just the plan


async def test_the_status_card_is_edited_in_place_at_most_every_few_seconds(stack: Stack) -> None:
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL)
    start = stack.clock.monotonic()
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    elapsed = stack.clock.monotonic() - start
    updates = stack.slack.sandbox.log.calls("chat.update", ok=True)
    assert 3 <= len(updates) <= elapsed / TEST_CONFIG.card_interval + 2
    times = [u.monotonic for u in updates]
    assert all(b - a >= 2.9 for a, b in itertools.pairwise(times))
    async with stack.sessions() as session:
        card = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.key == f"watch:{watch_id}:card")
        )
    assert card is not None
    assert {u.params["ts"] for u in updates} == {card.ts}


async def test_the_run_loops_narrate_a_plan_on_their_own_and_give_the_lease_back_on_stop(
    stack: Stack,
) -> None:
    plan_id = stack.sim.plan_id("Web Frontend Cache")
    await stack.vro.failover(plan_id)
    other_id = stack.sim.plan_id("Web Frontend")
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(stack.watcher.run(stop=stop)),
        asyncio.create_task(stack.sender.run(stop=stop)),
    ]
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL, action="Failover")
    waiting_id = await stack.watcher.start_watch(other_id, CHANNEL)  # never runs: stays active
    await stack.slack.sandbox.log.wait_for(
        "chat.postMessage",
        where=lambda r: r.params.get("reply_broadcast") in (True, "true"),
        within_seconds=60,
    )
    stop.set()
    await asyncio.gather(*tasks)
    assert (await stack.row(watch_id)).status == "finished"
    waiting = await stack.row(waiting_id)
    assert waiting.status == "active"
    assert waiting.lease_owner is None  # released at shutdown: another replica may take it at once
    assert "Waiting for the plan to start" in message_text(
        stack.slack.sandbox.workspace.message(CHANNEL, await stack.root_ts(waiting_id))
    )
