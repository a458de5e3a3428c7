"""Ack latency of signed commands and clicks through the real app, in-process, on SQLite.

Budget (DESIGN.md section 5): p99 under 50 ms on a 2-core machine. Slack allows 3 s.

    .venv/bin/python -m bench.ack_latency [--commands 800] [--clicks 400]

Each request is signed like Slack signs it and pushed through the bot's ASGI app
(``httpx.ASGITransport``); the time measured is from sending to the HTTP answer (the ack).
The work started after the ack (VRO calls, database writes, Slack posts) runs concurrently,
as in production, and is drained between batches so it does not pile up without bound.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.offline import OfflineStack, offline_stack

CHANNEL = "C0BENCH"
OPERATOR, LEAD1, LEAD2, VIEWER = "U0OPS", "U0LEAD1", "U0LEAD2", "U0VIEW"
POLICY = f"""
roles:
  viewer:   {{users: ["*"]}}
  operator: {{users: [{OPERATOR}]}}
  approver: {{users: [{LEAD1}, {LEAD2}]}}
defaults: {{role: operator, approvals: 2, approver_role: approver, ttl_minutes: 30}}
"""
COMMANDS = (
    "plans",
    'status "SAP Tier1"',
    'plan "Web Frontend"',
    "help failover",
    'disable "Payroll Restore"',
)
BATCH = 50


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def measure(stack: OfflineStack, commands: int, clicks: int) -> tuple[list[float], list[float]]:
    command_ms: list[float] = []
    for start in range(0, commands, BATCH):
        for i in range(start, min(commands, start + BATCH)):
            text = COMMANDS[i % len(COMMANDS)]
            user = OPERATOR if text.startswith("disable") else VIEWER
            request = stack.driver.build_command(text, user_id=user, channel_id=CHANNEL)
            began = time.perf_counter()
            response = await stack.driver.send(request)
            command_ms.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
        await stack.settle()

    cards = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")
    click_ms: list[float] = []
    done = 0
    while done < clicks and cards:
        for card in cards:
            if done >= clicks:
                break
            user = LEAD1 if done % 2 == 0 else OPERATOR  # approvals and refused self-approvals
            request = stack.driver.build_click(
                user_id=user, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve"
            )
            began = time.perf_counter()
            response = await stack.driver.send(request)
            click_ms.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
            done += 1
            if done % BATCH == 0:
                await stack.settle()
        await stack.settle()
        cards = stack.sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")
    return command_ms, click_ms


def report(name: str, samples: list[float]) -> None:
    print(
        f"{name:<9} n={len(samples):>5}  p50={percentile(samples, 0.50):6.2f} ms  "
        f"p95={percentile(samples, 0.95):6.2f} ms  p99={percentile(samples, 0.99):6.2f} ms  "
        f"max={max(samples):6.2f} ms  mean={statistics.fmean(samples):6.2f} ms"
    )


async def main(commands: int, clicks: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with offline_stack(
            database_url=f"sqlite:///{Path(folder) / 'bench.db'}",
            clock=FakeClock(),
            policy=Policy.from_yaml(POLICY),
            users={OPERATOR: "ops", LEAD1: "lead1", LEAD2: "lead2", VIEWER: "viewer"},
            channels={CHANNEL: "bench"},
            instance_id="bench",
        ) as stack:
            command_ms, click_ms = await measure(stack, commands, clicks)
    report("commands", command_ms)
    report("clicks", click_ms)
    report("all", command_ms + click_ms)
    print("budget: p99 < 50 ms (DESIGN.md section 5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=800)
    parser.add_argument("--clicks", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.commands, args.clicks))
