"""Work after the ack: drained on demand, failures reported, never lost silently."""

from __future__ import annotations

import asyncio

from bot.slack.work import BackgroundWork


async def test_drain_waits_for_tasks_started_by_tasks() -> None:
    work = BackgroundWork()
    done: list[str] = []

    async def child() -> None:
        await asyncio.sleep(0)
        done.append("child")

    async def parent() -> None:
        work.spawn(child(), name="child")
        done.append("parent")

    work.spawn(parent(), name="parent")
    await work.drain()
    assert done == ["parent", "child"]
    assert work.pending == 0


async def test_a_failure_reaches_the_error_hook_with_the_task_name() -> None:
    seen: list[tuple[str, str]] = []

    async def hook(exc: BaseException, name: str) -> None:
        seen.append((type(exc).__name__, name))

    async def boom() -> None:
        raise RuntimeError("VRO said no")

    work = BackgroundWork(on_error=hook)
    work.spawn(boom(), name="command.failover")
    await work.drain()
    assert seen == [("RuntimeError", "command.failover")]


async def test_cancel_all_stops_running_work() -> None:
    work = BackgroundWork()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = work.spawn(forever(), name="forever")
    await started.wait()
    await work.cancel_all()
    assert task.cancelled()
