"""The pace of the narration with production defaults: live at the start, summaries never starved."""

from __future__ import annotations

from sqlalchemy import select

from bot.outbox.tables import PRIORITY_NOTICE, OutboxMessage
from bot.watcher.service import WatcherConfig
from tests.watcher.conftest import CHANNEL, Stack, message_text

PRODUCTION = WatcherConfig()


async def thread_rows(stack: Stack, watch_id: int) -> list[OutboxMessage]:
    async with stack.sessions() as session:
        found = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.like(f"watch:{watch_id}:events:%"))
            .order_by(OutboxMessage.id)
        )
        return list(found.all())


async def test_a_small_plans_first_steps_reach_the_outbox_at_the_poll_that_saw_them(stack: Stack) -> None:
    watcher = stack.new_watcher(owner="prod", config=PRODUCTION)
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await watcher.start_watch(plan_id, CHANNEL, action="Failover")
    polls_with_events = 0
    for _ in range(24):
        seen = watcher.stats.events
        await stack.tick(5.0, watcher)
        if watcher.stats.events > seen:
            polls_with_events += 1
            assert (await stack.row(watch_id)).pending == []  # nothing waits for company
    rows = await thread_rows(stack, watch_id)
    assert polls_with_events >= 3
    assert len(rows) == polls_with_events
    assert any("▸" in message_text_of(row) or "✓" in message_text_of(row) for row in rows)


def message_text_of(row: OutboxMessage) -> str:
    return "\n".join(str(block.get("text", {}).get("text", "")) for block in row.payload["blocks"])


async def test_every_transition_is_written_and_the_summary_goes_as_a_notice(stack: Stack) -> None:
    watcher = stack.new_watcher(owner="prod", config=PRODUCTION)
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await watcher.start_watch(plan_id, CHANNEL, action="Failover")
    await stack.until(watch_id, watcher=watcher)
    await stack.sender.run_until_idle()
    thread = await stack.thread(watch_id)
    everything = "\n".join(message_text(m) for m in thread)
    assert "finished" in message_text(thread[-1])
    row = await stack.row(watch_id)
    assert row.thread_messages == len(await thread_rows(stack, watch_id))
    assert everything.count("done ✓") + everything.count("done ⚠") == sum(
        len(group.vms) for group in next(p for p in stack.sim.estate.plans if p.id == plan_id).groups
    )
    async with stack.sessions() as session:
        summary = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.key == f"watch:{watch_id}:summary:0")
        )
    assert summary is not None
    assert summary.priority == PRIORITY_NOTICE
