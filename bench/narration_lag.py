"""How far behind VRO the thread and the status card are, with production defaults.

Everything real but time: the simulator (VRO) behind the real VRO client, the watcher and the
outbox sender with their production defaults (poll every 5 s, adaptive thread batching, about
one post a second per channel, card edits within Slack's Tier 3 budget), posting through the
real Slack client to the sandbox Slack on loopback. One fake clock drives all of them in steps
of ``TICK`` seconds, the way their run loops would (the watcher polls what is due, the sender
makes a pass), so an hour-long run takes seconds and the figures are repeatable.

Scenarios (groups of VMs; every VM has 5 steps of 6 s; a group processes 10 VMs at a time):

* one 10-VM plan (2 groups x 5 VMs) in its channel;
* one 1,000-VM plan (20 groups x 50 VMs) in its channel;
* a site failover: 30 plans of 10 VMs approved at once into one channel.

Figures (VRO's own time of a transition, as it reports it, to the moment Slack received):

* thread lag: a step's start or finish to the post that tells it in the thread;
* card lag: a step's finish to the first card edit whose counts include it (and, apart, a
  plan state change to the first edit that shows it); in a channel with a board (three runs or
  more), the run's line on the board counts too, whichever shows it first (the cards alone
  are reported apart);
* thread messages of the 1,000-VM run (replies in its thread, summary included);
* posts per second per channel: the most in any 1 s (Slack allows short bursts), and
  sustained: the most in any 60 s, per second;
* lost: outbox posts not in Slack at the end (must be 0).

Run: ``.venv/bin/python -m bench.narration_lag``. Ends with ``key=value`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bench.watcher_common import Rig, build_rig
from bot.clock import FakeClock
from bot.outbox.sender import OutboxSender
from bot.outbox.slack_poster import SlackWebPoster
from bot.outbox.tables import STATUS_SENT, OutboxMessage
from bot.sandbox.server import create_sandbox, serve_sandbox
from bot.simulator.generate import generate_estate
from bot.watcher.service import Watcher, WatcherConfig
from bot.watcher.tables import STATUS_ACTIVE, Watch

TICK = 0.25  # seconds of fake time between two turns of the loops
PARALLEL = 10
STEP_SECONDS = 6.0
STEPS_PER_VM = 5
DONE_STEPS = re.compile(r"Steps (\d+)(?:/\d+| done)")
BOARD_LINE = re.compile(r"^(\S+) \*(.+?)\*(.*)$")
BOARD_STEPS = re.compile(r"steps (\d+)(?:/\d+| done)")
STATE_IN_TEXT = re.compile(r"\(([^()]*)\)(?: \d+%)?$")


@dataclass
class Outcome:
    name: str
    thread_lags: list[float] = field(default_factory=list)
    card_lags: list[float] = field(default_factory=list)
    state_lags: list[float] = field(default_factory=list)
    thread_messages: dict[int, int] = field(default_factory=dict)
    posts_1s: int = 0
    posts_60s: float = 0.0
    lost: int = 0
    fake_seconds: float = 0.0
    wall_seconds: float = 0.0
    card_edits: int = 0
    board_edits: int = 0
    card_only_lags: list[float] = field(default_factory=list)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


async def run_scenario(name: str, *, plans: int, groups: int, vms_per_group: int) -> Outcome:
    clock = FakeClock()
    estate = generate_estate(
        plans=plans,
        groups=groups,
        vms_per_group=vms_per_group,
        steps_per_vm=STEPS_PER_VM,
        step_seconds=STEP_SECONDS,
        warning_rate=0.02,
        seed=11,
    )
    for plan in estate.plans:
        for group in plan.groups:
            group.isParallel = True
            group.parallelProcessingVmsCount = min(PARALLEL, vms_per_group)
    channel = "C0WARROOM"
    sandbox = create_sandbox(clock=clock, channels={channel: "dr-war-room"})
    rig: Rig = await build_rig(clock=clock, estate=estate)
    outcome = Outcome(name)
    try:
        with serve_sandbox(sandbox) as running:
            poster = SlackWebPoster.from_token("xoxb-bench", base_url=running.api_url)
            sender = OutboxSender(session_factory=rig.sessions, poster=poster, clock=clock)
            watcher = Watcher(
                session_factory=rig.sessions,
                source=rig.vro,
                clock=clock,
                config=WatcherConfig(),  # production defaults
                on_outbox=sender.wake,
                record_lag=True,
            )
            ids = [rig.sim.plan_id(plan.name) for plan in estate.plans]
            for plan_id in ids:  # approved at once
                await rig.vro.failover(plan_id)
            watch_ids = [await watcher.start_watch(plan_id, channel, action="Failover") for plan_id in ids]
            started, wall = clock.monotonic(), time.perf_counter()
            next_pass = 0.0
            while True:
                await watcher.poll_once()
                if clock.monotonic() >= next_pass:
                    await sender.send_due()
                    next_pass = clock.monotonic() + min(sender.next_wake_in(), 1.0)
                if not await _active(rig) and await _pending(rig) == 0:
                    break
                clock.advance(TICK)
            outcome.fake_seconds = clock.monotonic() - started
            outcome.wall_seconds = time.perf_counter() - wall
            await _measure(outcome, rig, sandbox.log.calls(ok=True), watcher, watch_ids, channel)
            outcome.posts_1s = sender.stats.max_posts_in(1.0)
            outcome.posts_60s = sender.stats.max_posts_in(60.0) / 60
    finally:
        await rig.close()
    return outcome


async def _active(rig: Rig) -> int:
    async with rig.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Watch).where(Watch.status == STATUS_ACTIVE)
        )
    return int(count or 0)


async def _pending(rig: Rig) -> int:
    async with rig.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        )
    return int(count or 0)


def _seconds(at: datetime) -> float:
    return at.timestamp()


async def _measure(
    outcome: Outcome, rig: Rig, calls: Sequence[Any], watcher: Watcher, watch_ids: list[int], channel: str
) -> None:
    posted: dict[str, float] = {}  # outbox key -> when Slack received it
    card_ts: dict[str, int] = {}  # the card's ts -> watch id
    for call in calls:
        if call.method != "chat.postMessage":
            continue
        key = str(((call.params.get("metadata") or {}).get("event_payload") or {}).get("key", ""))
        posted[key] = _seconds(call.at)
    async with rig.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxMessage.key, OutboxMessage.status, OutboxMessage.ts, OutboxMessage.kind)
            )
        ).all()
    outcome.lost = sum(
        1 for key, status, _, kind in rows if kind == "post" and (status != STATUS_SENT or key not in posted)
    )
    board_ts: set[str] = set()
    for key, _, ts, kind in rows:
        match = re.fullmatch(r"watch:(\d+):card", key)
        if match and kind == "post" and ts:
            card_ts[ts] = int(match.group(1))
        if key.startswith("board:") and kind == "post" and ts:
            board_ts.add(ts)
    async with rig.sessions() as session:
        watch_of = {
            name: watch_id
            for watch_id, name in (
                await session.execute(select(Watch.id, Watch.plan_name).where(Watch.id.in_(watch_ids)))
            ).tuples()
        }
    # Thread lag: each transition to the post of the batch that told it (its last part).
    batch_posted: dict[tuple[int, int, int], float] = {}
    for key, when in posted.items():
        match = re.fullmatch(r"watch:(\d+):events:(\d+)-(\d+):(\d+)", key)
        if match:
            watch_id, first, last = int(match.group(1)), int(match.group(2)), int(match.group(3))
            span = (watch_id, first, last)
            batch_posted[span] = max(batch_posted.get(span, 0.0), when)
            outcome.thread_messages[watch_id] = outcome.thread_messages.get(watch_id, 0) + 1
        match = re.fullmatch(r"watch:(\d+):summary:\d+", key)
        if match:
            watch_id = int(match.group(1))
            outcome.thread_messages[watch_id] = outcome.thread_messages.get(watch_id, 0) + 1
    spans: dict[int, list[tuple[int, int, float]]] = {}
    for (watch_id, first, last), when in batch_posted.items():
        spans.setdefault(watch_id, []).append((first, last, when))
    finishes: dict[int, list[float]] = {}
    for watch_id, seq, kind, scope, at in watcher.stats.transitions:
        for first, last, when in spans.get(watch_id, ()):
            if first <= seq <= last:
                outcome.thread_lags.append(when - _seconds(at))
                break
        if scope == "step" and kind in ("completed", "failed", "skipped"):
            finishes.setdefault(watch_id, []).append(_seconds(at))
    # Card lag: the k-th step to finish, to the first card edit counting k finished steps.
    edits: dict[int, list[tuple[float, int, str]]] = {}
    shown_on_board: dict[int, list[tuple[float, int, str]]] = {}
    for call in calls:
        is_board = str(call.params.get("ts")) in board_ts or (
            call.method == "chat.postMessage"
            and str(
                ((call.params.get("metadata") or {}).get("event_payload") or {}).get("key", "")
            ).startswith("board:")
        )
        if is_board:
            outcome.board_edits += 1
            for line in "\n".join(_texts(call.params.get("blocks"))).splitlines():
                match = BOARD_LINE.match(line)
                if match is None or match.group(2) not in watch_of:
                    continue
                steps = BOARD_STEPS.search(match.group(3))
                ended = match.group(1) in ("✅", "❌", "▫️") or (match.group(1) == "⚠️" and "%" not in line)
                shown_on_board.setdefault(watch_of[match.group(2)], []).append(
                    (_seconds(call.at), int(steps.group(1)) if steps else 0, "Ended" if ended else "Running")
                )
            continue
        if call.method != "chat.update":
            continue
        card_of = card_ts.get(str(call.params.get("ts")))
        if card_of is None:
            continue
        outcome.card_edits += 1
        text = " ".join(_texts(call.params.get("blocks")))
        done = DONE_STEPS.search(text)
        state = STATE_IN_TEXT.search(str(call.params.get("text", "")))
        edits.setdefault(card_of, []).append(
            (_seconds(call.at), int(done.group(1)) if done else 0, state.group(1) if state else "")
        )
    # What people see of a run: its card, or its line on the channel's board, whichever is newer.
    for watch_id, times in finishes.items():
        cards = sorted(edits.get(watch_id, []))
        shown = sorted([*cards, *shown_on_board.get(watch_id, [])])
        for k, finished_at in enumerate(sorted(times), start=1):
            counted = next((at for at, done, _ in shown if done >= k), None)
            if counted is not None:
                outcome.card_lags.append(counted - finished_at)
            on_card = next((at for at, done, _ in cards if done >= k), None)
            if on_card is not None:
                outcome.card_only_lags.append(on_card - finished_at)
    # State lag: the run's end (VRO's finish time) to the first edit that no longer says running.
    async with rig.sessions() as session:
        watches = (await session.scalars(select(Watch).where(Watch.id.in_(watch_ids)))).all()
    for watch in watches:
        snapshot_plan = (watch.snapshot or {}).get("plan") or {}
        finished = snapshot_plan.get("finished_at")
        if not finished:
            continue
        end = datetime.fromisoformat(str(finished)).timestamp()
        shown = sorted([*edits.get(watch.id, []), *shown_on_board.get(watch.id, [])])
        ended = next((at for at, _, state in shown if at >= end and "running" not in state.lower()), None)
        if ended is not None:
            outcome.state_lags.append(ended - end)


def _texts(blocks: Any) -> list[str]:
    found: list[str] = []
    if isinstance(blocks, str):
        import json

        blocks = json.loads(blocks)
    for block in blocks or ():
        text = block.get("text")
        if isinstance(text, dict):
            found.append(str(text.get("text", "")))
        for element in block.get("elements", ()) or ():
            if isinstance(element, dict) and "text" in element:
                found.append(str(element.get("text", "")))
    return found


def report(outcome: Outcome) -> None:
    messages = list(outcome.thread_messages.values())
    print(
        f"{outcome.name}: {outcome.fake_seconds:.0f} s of VRO time in {outcome.wall_seconds:.1f} s; "
        f"thread lag p50 {statistics.median(outcome.thread_lags):.1f} s, p95 {p95(outcome.thread_lags):.1f} s, "
        f"max {max(outcome.thread_lags):.1f} s over {len(outcome.thread_lags)} transitions; "
        f"thread messages per run {min(messages)}-{max(messages)}; "
        f"card lag p95 {p95(outcome.card_lags):.1f} s ({outcome.card_edits} card edits, "
        f"{outcome.board_edits} board posts and edits; on the cards alone p95 {p95(outcome.card_only_lags):.1f} s), "
        f"state shown p95 {p95(outcome.state_lags):.1f} s; "
        f"posts/channel max {outcome.posts_1s} in 1 s, {outcome.posts_60s:.2f}/s over 60 s; lost {outcome.lost}"
    )


async def main(scenarios: list[str]) -> None:
    results: dict[str, Outcome] = {}
    shapes = {
        "10vm": {"plans": 1, "groups": 2, "vms_per_group": 5},
        "1000vm": {"plans": 1, "groups": 20, "vms_per_group": 50},
        "30plans": {"plans": 30, "groups": 2, "vms_per_group": 5},
    }
    for name in scenarios:
        results[name] = await run_scenario(name, **shapes[name])
        report(results[name])
    singles = [results[n] for n in ("10vm", "1000vm") if n in results]
    figures: dict[str, float] = {}
    if "10vm" in results:
        figures["thread_lag_p95_10vm_s"] = p95(results["10vm"].thread_lags)
    if "1000vm" in results:
        figures["thread_lag_p95_1000vm_s"] = p95(results["1000vm"].thread_lags)
        figures["thread_messages_1000vm"] = max(results["1000vm"].thread_messages.values())
    if singles:
        figures["card_lag_p95_s"] = p95([lag for o in singles for lag in o.card_lags])
    if "30plans" in results:
        thirty = results["30plans"]
        figures["thread_lag_p95_30plans_s"] = p95(thirty.thread_lags)
        figures["card_lag_p95_30plans_s"] = p95(thirty.card_lags)
        figures["card_only_lag_p95_30plans_s"] = p95(thirty.card_only_lags)
        figures["card_state_lag_p95_30plans_s"] = p95(thirty.state_lags)
    every = list(results.values())
    figures["max_posts_per_s_per_channel"] = max(o.posts_60s for o in every)  # sustained: any 60 s
    figures["max_posts_in_1s_per_channel"] = max(o.posts_1s for o in every)
    figures["lost_posts"] = sum(o.lost for o in every)
    for key, value in figures.items():
        print(f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", nargs="+", default=["10vm", "1000vm", "30plans"])
    args = parser.parse_args()
    asyncio.run(main(args.scenarios))
