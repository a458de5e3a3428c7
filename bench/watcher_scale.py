"""One process watching 200 running plans: CPU, memory, and the lag from a change to its outbox row.

Real time (SystemClock). The simulator runs at ``--speed`` (default 10: a 30 s step takes 3 s)
in a child process served by uvicorn on loopback, as a real VRO would be; the watcher reaches it
with the real VRO client over HTTP. The CPU figure is the watching process alone (watcher,
outbox sender, SQLite threads, HTTP client); the simulator's own CPU is printed apart.
Each plan: 2 groups x 5 VMs x 5 steps. The watcher polls every ``--poll`` seconds and batches
thread messages as in production (bot.watcher.batching; 200 plans in 200 channels); with
``--batch-seconds 0`` every poll's events are written at once, so the lag measured is the
pipeline's own (and the sender has a post per poll per plan to send).

Lag = when the outbox row was written - VRO's own timestamp of the transition (a step's start or
finish time), over every narrated step transition.

The watching process is set up as ``vro-bot run`` sets itself up: it imports what the bot
imports (Slack's SDK, the approvals, the HTTP server: they are part of its memory), not the
simulator; it runs on the bot's event loop (uvloop where installed; ``--asyncio-loop`` for
asyncio's own) and caps glibc's malloc arenas as the bot does (``--default-malloc`` leaves
glibc's default).

Run: ``.venv/bin/python -m bench.watcher_scale [--plans 200 --speed 10 --seconds 120]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx

import bot.runtime  # noqa: F401  (the watching process holds what `vro-bot run` holds)
from bench.watcher_common import CountingPoster
from bot.clock import SystemClock
from bot.db import create_engine, session_factory
from bot.migrate import upgrade
from bot.outbox.sender import OutboxSender
from bot.runtime.loop import loop_name, run_loop
from bot.runtime.memory import limit_malloc_arenas
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.watcher.service import Watcher, WatcherConfig


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def serve_simulator(plans: int, speed: float, port: int) -> None:
    """The child process: the simulator over HTTP on 127.0.0.1:``port``.

    The simulator is imported here only: the watching process does not hold it.
    """
    import uvicorn

    from bot.simulator.app import create_simulator
    from bot.simulator.generate import generate_estate

    estate = generate_estate(
        plans=plans, groups=2, vms_per_group=5, steps_per_vm=5, step_seconds=30, parallel=4, seed=3
    )
    sim = create_simulator(clock=SystemClock(), estate=estate, speed=speed)
    uvicorn.run(sim, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the simulator did not start")


async def main(
    plans: int,
    speed: float,
    seconds: float,
    poll: float,
    *,
    with_sender: bool = True,
    batch_seconds: float | None = None,
) -> None:
    clock = SystemClock()
    port = free_port()
    child = multiprocessing.get_context("spawn").Process(
        target=serve_simulator, args=(plans, speed, port), daemon=True
    )
    child.start()
    base_url = f"http://127.0.0.1:{port}"
    workdir = tempfile.TemporaryDirectory(prefix="vro-bench-")
    url = f"sqlite:///{Path(workdir.name) / 'bench.db'}"
    upgrade(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    vro = VroClient(
        base_url=base_url,
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        clock=clock,
        retry=RetryPolicy(attempts=1),
        timeout=120,
    )
    poster = CountingPoster()
    sender = OutboxSender(session_factory=sessions, poster=poster, clock=clock)
    watcher = Watcher(
        session_factory=sessions,
        source=vro,
        clock=clock,
        config=WatcherConfig(poll_seconds=poll)
        if batch_seconds is None
        else WatcherConfig(poll_seconds=poll, batch_seconds=batch_seconds),
        on_outbox=sender.wake,
        record_lag=True,
    )
    stop = asyncio.Event()
    try:
        await wait_until_up(base_url)
        # The plans as the bot would learn them, from VRO (the estate itself lives in the simulator's
        # process: generating it here too would count its 50-odd MiB as the watcher's memory).
        ids: list[str] = []
        while len(ids) < plans:
            page = await vro.get_plans(start=len(ids), limit=100)
            ids.extend(plan.id for plan in page.data)
            if not page.data:
                break
        for plan_id in ids:
            await vro.failover(plan_id)
        for plan_id in ids:
            await watcher.start_watch(plan_id, f"C{plan_id[:8]}", action="Failover")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tasks = [asyncio.create_task(watcher.run(stop=stop))]
        if with_sender:
            tasks.append(asyncio.create_task(sender.run(stop=stop)))
        await asyncio.sleep(seconds)
        stop.set()
        sender.wake()
        await asyncio.gather(*tasks)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        stop.set()
        await vro.aclose()
        await engine.dispose()
        workdir.cleanup()
        child.terminate()
        child.join(10)
    sim_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    lags = watcher.stats.lags
    per_watch = wall * plans / max(1, watcher.stats.polls)
    print(
        f"{plans} plans watched for {wall:.0f} s (simulator speed {speed:g}x in another process, poll every "
        f"{poll:g} s, thread batches {'adaptive' if batch_seconds is None else f'of {batch_seconds:g} s'}"
        f"{'' if with_sender else ', sender off'})"
    )
    print(
        f"  polls: {watcher.stats.polls} ({watcher.stats.polls / wall:.1f}/s; each watch polled every "
        f"{per_watch:.1f} s on average), VRO requests: {watcher.stats.vro_requests}"
    )
    print(
        f"  events: {watcher.stats.events}, outbox posts sent: {poster.posts}, card edits sent: {poster.updates}"
    )
    print(
        f"  CPU of the watching process: {cpu:.1f} s in {wall:.0f} s = {100 * cpu / wall:.0f}% of one core "
        f"({1000 * cpu / max(1, watcher.stats.polls):.1f} ms per poll, outbox sender included)"
    )
    print(
        f"  snapshot writes: {watcher.stats.snapshot_bytes / max(1, watcher.stats.polls):.0f} bytes per poll "
        "(mean; JSON of the changed items and heads)"
    )
    print(f"  CPU of the simulator process (whole life): {sim_cpu.ru_utime + sim_cpu.ru_stime:.1f} s")
    print(f"  memory: max RSS {rss / 1024:.0f} MiB (before watching: {rss_before / 1024:.0f} MiB)")
    if lags:
        print(
            f"  lag from a step transition to its outbox row: median {statistics.median(lags):.2f} s, "
            f"p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s over {len(lags)} transitions "
            f"(poll interval {poll:g} s)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plans", type=int, default=200)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument(
        "--without-sender", action="store_true", help="watcher only: outbox rows are not sent"
    )
    parser.add_argument(
        "--batch-seconds", type=float, default=None, help="longest thread batch gap (default: production's)"
    )
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's malloc arenas as they are (default: capped)",
    )
    parser.add_argument(
        "--asyncio-loop",
        action="store_true",
        help="run on asyncio's own loop (default: the loop `vro-bot run` uses, uvloop where installed)",
    )
    args = parser.parse_args()
    arenas = None if args.default_malloc else limit_malloc_arenas()
    print(
        f"event loop: {'asyncio' if args.asyncio_loop else loop_name()}, "
        f"malloc arenas: {arenas if arenas is not None else 'the default'}"
    )
    (asyncio.run if args.asyncio_loop else run_loop)(
        main(
            args.plans,
            args.speed,
            args.seconds,
            args.poll,
            with_sender=not args.without_sender,
            batch_seconds=args.batch_seconds,
        )
    )
