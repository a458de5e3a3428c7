"""VRO requests of the watcher: incremental polling against naive full polling, and Slack messages.

For plans of 10, 100 and 1,000 VMs (5 steps each, some warnings), on a fake clock: a failover is
run on the simulator and watched from start to summary with a poll every 5 s. Printed per size:

- VRO requests per poll (mean, max) and in total, counted by the watcher and cross-checked in
  the simulator's request log;
- what naive full polling would cost for the same polls (plan + groups + every group's VMs +
  every VM's steps, each poll), and the ratio naive / incremental;
- Slack messages for the plan (posts, card edits) and the highest posts per second per channel
  (and the sustained rate over any 10 s), as the outbox sender paced them.

Run: ``.venv/bin/python -m bench.watcher_requests [--sizes 10 100 1000]``. No assertions: figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.watcher_common import CountingPoster, build_rig, runtime_gets
from bot.clock import FakeClock
from bot.outbox.sender import OutboxSender
from bot.simulator.generate import generate_estate
from bot.watcher.service import Watcher, WatcherConfig
from bot.watcher.snapshot import TERMINAL
from bot.watcher.store import load_snapshot
from bot.watcher.tables import STATUS_FINISHED, Watch

SHAPES = {10: (2, 5), 100: (5, 20), 1000: (20, 50)}  # VMs -> (groups, VMs per group)
DEFAULT_PARALLEL = 10  # VMs a group processes at once (VRO's parallelProcessingVmsCount)
STEPS_PER_VM = 5
POLL_SECONDS = 5.0


async def measure(vms: int, *, parallel: int, batch_seconds: float) -> dict[str, float]:
    groups, per_group = SHAPES.get(vms, (max(1, vms // 50), min(vms, 50)))
    clock = FakeClock()
    estate = generate_estate(
        plans=1,
        groups=groups,
        vms_per_group=per_group,
        steps_per_vm=STEPS_PER_VM,
        step_seconds=6.0,
        warning_rate=0.02,
        seed=7,
    )
    for group in estate.plans[0].groups:  # every group processes ``parallel`` VMs at a time
        group.isParallel = parallel > 1
        group.parallelProcessingVmsCount = max(1, min(parallel, per_group))
    rig = await build_rig(clock=clock, estate=estate)
    poster = CountingPoster()
    sender = OutboxSender(session_factory=rig.sessions, poster=poster, clock=clock)
    watcher = Watcher(
        session_factory=rig.sessions,
        source=rig.vro,
        clock=clock,
        config=WatcherConfig(poll_seconds=POLL_SECONDS, batch_seconds=batch_seconds),
        on_outbox=sender.wake,
    )
    try:
        plan_id = rig.sim.plan_id("Bench Plan 001")
        await rig.vro.failover(plan_id)
        rig.sim.clear_requests()
        watch_id = await watcher.start_watch(plan_id, "C0BENCH", action="Failover")
        per_poll: list[int] = []
        started = time.perf_counter()
        while True:
            before = watcher.stats.vro_requests
            await watcher.poll_once()
            per_poll.append(watcher.stats.vro_requests - before)
            await sender.send_due()
            async with rig.sessions() as session:
                row = await session.get(Watch, watch_id)
                assert row is not None
                if row.status == STATUS_FINISHED:
                    break
            clock.advance(POLL_SECONDS)
        await sender.run_until_idle()
        wall = time.perf_counter() - started
        async with rig.sessions() as session:
            snapshot = await load_snapshot(session, watch_id)
        narrated = sum(1 for i in snapshot.items.values() if i.kind == "step" and i.phase in TERMINAL)
        naive_per_poll = 2 + groups + groups * per_group
        return {
            "vms": vms,
            "steps": vms * STEPS_PER_VM,
            "polls": len(per_poll),
            "run_minutes": len(per_poll) * POLL_SECONDS / 60,
            "mean_per_poll": statistics.fmean(per_poll),
            "max_per_poll": max(per_poll),
            "total": sum(per_poll),
            "sim_log": runtime_gets(rig.sim),
            "naive_per_poll": naive_per_poll,
            "naive_total": naive_per_poll * len(per_poll),
            "posts": poster.posts,
            "edits": poster.updates,
            "max_posts_1s": sender.stats.max_posts_in(1.0),
            "max_posts_10s": sender.stats.max_posts_in(10.0) / 10,
            "wall_seconds": wall,
            "narrated_steps": narrated,
        }
    finally:
        await rig.close()


async def main(sizes: list[int], parallel: int, batch_seconds: float) -> None:
    print(
        f"VRO requests: incremental vs naive full polling (poll every {POLL_SECONDS:g} s, fake clock, "
        f"{STEPS_PER_VM} steps of 6 s per VM, {parallel} VMs at a time per group, "
        f"thread batches of {batch_seconds:g} s)"
    )
    header = (
        f"{'VMs':>6} {'steps':>6} {'polls':>6} {'run':>7} {'req/poll':>9} {'max':>5} {'total':>8} "
        f"{'(sim log)':>9} {'naive/poll':>10} {'naive total':>11} {'ratio':>7}"
    )
    print(header)
    results = []
    for vms in sizes:
        r = await measure(vms, parallel=parallel, batch_seconds=batch_seconds)
        results.append(r)
        print(
            f"{r['vms']:>6.0f} {r['steps']:>6.0f} {r['polls']:>6.0f} {r['run_minutes']:>5.0f}mn "
            f"{r['mean_per_poll']:>9.2f} {r['max_per_poll']:>5.0f} {r['total']:>8.0f} {r['sim_log']:>9.0f} "
            f"{r['naive_per_poll']:>10.0f} {r['naive_total']:>11.0f} {r['naive_total'] / r['total']:>6.1f}x"
        )
    print()
    print("Slack messages per plan (status card + batched thread messages + summary; card edits debounced)")
    print(
        f"{'VMs':>6} {'steps narrated':>14} {'posts':>6} {'card edits':>10} {'max posts/s/channel':>20} "
        f"{'max sustained (10 s)':>21} {'wall':>7}"
    )
    for r in results:
        print(
            f"{r['vms']:>6.0f} {r['narrated_steps']:>8.0f}/{r['steps']:<5.0f} {r['posts']:>6.0f} {r['edits']:>10.0f} "
            f"{r['max_posts_1s']:>20.0f} {r['max_posts_10s']:>19.1f}/s {r['wall_seconds']:>6.1f}s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL)
    parser.add_argument("--batch-seconds", type=float, default=WatcherConfig.batch_seconds)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.parallel, args.batch_seconds))
