"""The outbox sender's pace: posts per second per channel, and its own cost per message.

``--messages`` posts (half of them thread replies waiting for their parent) and one card edit per
ten posts are written into ``--channels`` channels at once; the sender drains them on a fake clock
(Slack answering instantly). Printed: fake time to drain, the highest posts in any 1 s window of
one channel, the sustained rate over 10 s windows, edits sent vs written (debounce), and the
wall-clock cost per message (database round trips of the sender on SQLite).

Run: ``.venv/bin/python -m bench.outbox_pace [--messages 600 --channels 1 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.watcher_common import CountingPoster, build_rig
from bot.clock import FakeClock
from bot.outbox.sender import OutboxSender
from bot.outbox.store import Message, enqueue_post, enqueue_update
from bot.simulator.generate import generate_estate


async def run(messages: int, channels: int) -> None:
    clock = FakeClock()
    rig = await build_rig(
        clock=clock, estate=generate_estate(plans=1, groups=1, vms_per_group=1, steps_per_vm=1)
    )
    poster = CountingPoster()
    sender = OutboxSender(session_factory=rig.sessions, poster=poster, clock=clock)
    try:
        per_channel = messages // channels
        edits = 0
        async with rig.sessions() as session, session.begin():
            for c in range(channels):
                channel = f"C{c:04d}"
                root = f"{channel}:root"
                await enqueue_post(
                    session, key=root, channel=channel, message=Message("root"), now=clock.now()
                )
                for i in range(1, per_channel):
                    text = f"message {i}"
                    if i % 2:
                        await enqueue_post(
                            session,
                            key=f"{channel}:{i}",
                            channel=channel,
                            message=Message(text),
                            now=clock.now(),
                            parent_key=root,
                        )
                    else:
                        await enqueue_post(
                            session,
                            key=f"{channel}:{i}",
                            channel=channel,
                            message=Message(text),
                            now=clock.now(),
                        )
                    if i % 10 == 0:
                        edits += 1
                        await enqueue_update(
                            session,
                            key=f"{channel}:edit:{i}",
                            channel=channel,
                            message=Message(f"card {i}"),
                            now=clock.now(),
                            target_key=root,
                        )
        start_fake, start_wall = clock.monotonic(), time.perf_counter()
        await sender.run_until_idle(max_seconds=24 * 3600)
        fake, wall = clock.monotonic() - start_fake, time.perf_counter() - start_wall
        print(
            f"{channels} channel(s), {poster.posts} posts: drained in {fake:.0f} s of Slack time; "
            f"max {sender.stats.max_posts_in(1.0)} posts in any 1 s of a channel, "
            f"max sustained {sender.stats.max_posts_in(10.0) / 10:.1f}/s over 10 s; "
            f"card edits sent {poster.updates} of {edits} written; "
            f"sender cost {1000 * wall / max(1, poster.posts + poster.updates):.1f} ms wall per Slack call"
        )
    finally:
        await rig.close()


async def main(messages: int, channel_counts: list[int]) -> None:
    for channels in channel_counts:
        await run(messages, channels)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.channels))
