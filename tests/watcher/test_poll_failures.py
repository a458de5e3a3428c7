"""A watch whose polls keep failing on the bot's side is explained in its thread, not left silent.

VRO being away has its own notice ("VRO is not answering"); this is the rest: an answer the bot
trips over, a bug. The thread is told once after a few failures in a row, hears when polling
works again, and the run is still narrated to its summary.
"""

from __future__ import annotations

from bot.vro.models import (
    ExecutionDetail,
    GroupRuntimeDetails,
    Page,
    PlanRuntimeDetails,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.watcher.poll import FAILURES_BEFORE_NOTICE
from bot.watcher.source import RuntimeSource
from tests.watcher.conftest import CHANNEL, Stack, message_text

FAILING = "I can't follow *Web Frontend* at the moment"
AGAIN = "I can follow *Web Frontend* again"


class TrippingSource:
    """VRO's RuntimeDetails, except that reading the plan's trips the bot while ``broken``."""

    def __init__(self, inner: RuntimeSource) -> None:
        self.inner = inner
        self.broken = False
        self.trips = 0

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails:
        if self.broken:
            self.trips += 1
            raise RuntimeError("the bot tripped over this plan")
        return await self.inner.get_plan_runtime(plan_id)

    async def get_groups_runtime(
        self, plan_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[GroupRuntimeDetails]:
        return await self.inner.get_groups_runtime(plan_id, start=start, limit=limit)

    async def get_group_vms_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[VmRuntimeDetails]:
        return await self.inner.get_group_vms_runtime(plan_id, group_id, start=start, limit=limit)

    async def get_group_steps_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]:
        return await self.inner.get_group_steps_runtime(plan_id, group_id, start=start, limit=limit)

    async def get_vm_steps_runtime(
        self, plan_id: str, vm_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]:
        return await self.inner.get_vm_steps_runtime(plan_id, vm_id, start=start, limit=limit)

    async def get_step_runtime(self, plan_id: str, step_id: str) -> Page[ExecutionDetail]:
        return await self.inner.get_step_runtime(plan_id, step_id)


def count(texts: list[str], needle: str) -> int:
    return sum(needle in text for text in texts)


async def test_polls_failing_on_the_bot_s_side_are_told_once_then_the_run_is_narrated_to_its_end(
    stack: Stack,
) -> None:
    source = TrippingSource(stack.vro)
    watcher = stack.new_watcher(source=source)
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await watcher.start_watch(plan_id, CHANNEL, action="Failover")
    await stack.tick(5, watcher)

    source.broken = True
    while source.trips < FAILURES_BEFORE_NOTICE - 1:
        await stack.tick(30, watcher)  # a failed poll is tried again after poll_max_seconds
    await stack.sender.run_until_idle()
    assert count([message_text(m) for m in await stack.thread(watch_id)], FAILING) == 0

    while source.trips < FAILURES_BEFORE_NOTICE + 3:
        await stack.tick(30, watcher)
    await stack.sender.run_until_idle()
    texts = [message_text(m) for m in await stack.thread(watch_id)]
    assert count(texts, FAILING) == 1  # told once, however long it lasts
    assert "keep trying every 30 s" in texts[-1]
    assert (await stack.row(watch_id)).status == "active"

    source.broken = False
    await stack.until(watch_id, watcher=watcher)
    await stack.sender.run_until_idle()
    texts = [message_text(m) for m in await stack.thread(watch_id)]
    assert count(texts, FAILING) == 1
    assert count(texts, AGAIN) == 1
    assert texts.index(next(t for t in texts if AGAIN in t)) > texts.index(
        next(t for t in texts if FAILING in t)
    )
    assert "Failover of Web Frontend finished" in texts[-1]


async def test_a_poll_failing_now_and_then_is_not_worth_a_notice(stack: Stack) -> None:
    source = TrippingSource(stack.vro)
    watcher = stack.new_watcher(source=source)
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await watcher.start_watch(plan_id, CHANNEL, action="Failover")
    for _ in range(4):  # a failure, then a poll that works: the count starts over
        source.broken = True
        await stack.tick(30, watcher)
        source.broken = False
        await stack.tick(30, watcher)
    await stack.until(watch_id, watcher=watcher)
    await stack.sender.run_until_idle()
    texts = [message_text(m) for m in await stack.thread(watch_id)]
    assert source.trips >= FAILURES_BEFORE_NOTICE
    assert count(texts, FAILING) == 0
    assert count(texts, AGAIN) == 0
    assert "Failover of Web Frontend finished" in texts[-1]
