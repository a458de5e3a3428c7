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


async def answer(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def test_held_work_runs_only_when_the_hold_says_go_ahead() -> None:
    """Work spawned after ``hold`` waits for its answer: a delivery seen before does nothing."""
    work = BackgroundWork()
    ran: list[str] = []

    async def job(name: str) -> None:
        ran.append(name)

    work.hold(answer(True))
    work.spawn(job("first delivery"), name="a")
    work.hold(answer(False))
    work.spawn(job("a copy"), name="b")
    work.spawn(job("what the copy started too"), name="c")
    work.hold(None)
    work.spawn(job("unheld"), name="d")
    await work.drain()
    assert sorted(ran) == ["first delivery", "unheld"]


async def test_a_hold_that_fails_runs_nothing_and_reaches_the_error_hook() -> None:
    seen: list[tuple[str, str]] = []

    async def hook(exc: BaseException, name: str) -> None:
        seen.append((type(exc).__name__, name))

    async def unreachable_database() -> bool:
        raise ConnectionError("database down")

    ran: list[str] = []

    async def job() -> None:
        ran.append("job")

    work = BackgroundWork(on_error=hook)
    work.hold(unreachable_database())
    work.spawn(job(), name="command.plans")
    await work.drain()
    assert ran == []
    assert seen == [("ConnectionError", "command.plans")]
