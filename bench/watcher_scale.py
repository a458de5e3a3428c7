"""One process watching 200 running plans: CPU, memory, and the lag from a change to its outbox row.

Real time (SystemClock). The simulator runs at ``--speed`` (default 10: a 30 s step takes 3 s)
in the same process, behind the real VRO client, so the CPU figure includes the simulated VRO.
Each plan: 2 groups x 5 VMs x 5 steps. The watcher polls every ``--poll`` seconds and writes
thread messages at once (``batch_seconds=0``) so the lag measured is the pipeline's own; with
the default batching window a thread message waits up to that window on top.

Lag = when the outbox row was written - VRO's own timestamp of the transition (a step's start or
finish time), over every narrated step transition.

Run: ``.venv/bin/python -m bench.watcher_scale [--plans 200 --speed 10 --seconds 120]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time

from bench.watcher_common import CountingPoster, build_rig
from bot.clock import SystemClock
from bot.outbox.sender import OutboxSender
from bot.simulator.generate import generate_estate
from bot.watcher.service import Watcher, WatcherConfig


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(plans: int, speed: float, seconds: float, poll: float) -> None:
    clock = SystemClock()
    estate = generate_estate(
        plans=plans, groups=2, vms_per_group=5, steps_per_vm=5, step_seconds=30, parallel=4, seed=3
    )
    rig = await build_rig(clock=clock, estate=estate, speed=speed)
    poster = CountingPoster()
    sender = OutboxSender(session_factory=rig.sessions, poster=poster, clock=clock)
    watcher = Watcher(
        session_factory=rig.sessions,
        source=rig.vro,
        clock=clock,
        config=WatcherConfig(poll_seconds=poll, batch_seconds=0, concurrency=32),
        on_outbox=sender.wake,
        record_lag=True,
    )
    stop = asyncio.Event()
    try:
        ids = [rig.sim.plan_id(f"Bench Plan {p + 1:03d}") for p in range(plans)]
        for plan_id in ids:
            await rig.vro.failover(plan_id)
        for plan_id in ids:
            await watcher.start_watch(plan_id, f"C{plan_id[:8]}", action="Failover")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tasks = [asyncio.create_task(watcher.run(stop=stop)), asyncio.create_task(sender.run(stop=stop))]
        await asyncio.sleep(seconds)
        stop.set()
        sender.wake()
        await asyncio.gather(*tasks)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        lags = watcher.stats.lags
        print(f"{plans} plans watched for {wall:.0f} s (simulator speed {speed:g}x, poll every {poll:g} s)")
        print(
            f"  polls: {watcher.stats.polls} ({watcher.stats.polls / wall:.1f}/s), VRO requests: {watcher.stats.vro_requests}"
        )
        print(
            f"  events: {watcher.stats.events}, outbox posts sent: {poster.posts}, card edits sent: {poster.updates}"
        )
        print(
            f"  CPU: {cpu:.1f} s for {wall:.0f} s = {100 * cpu / wall:.0f}% of one core (watcher + outbox + simulator)"
        )
        print(f"  memory: max RSS {rss / 1024:.0f} MiB (before watching: {rss_before / 1024:.0f} MiB)")
        if lags:
            print(
                f"  lag from a step transition to its outbox row: median {statistics.median(lags):.2f} s, "
                f"p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s over {len(lags)} transitions "
                f"(poll interval {poll:g} s)"
            )
    finally:
        stop.set()
        await rig.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plans", type=int, default=200)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--poll", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.plans, args.speed, args.seconds, args.poll))
