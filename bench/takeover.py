"""Narration pause when a replica dies: two `vro-bot run` processes on one PostgreSQL database.

Goal (DESIGN.md section 3): after the loss of a replica, narration resumes within 20 s.

    TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.takeover

Both processes serve the same simulator (VRO) and Slack sandbox on loopback, on a fresh
PostgreSQL database created for the run (and dropped after). A failover is requested and
approved; once the narration is under way, the process that holds the watch's lease is killed
with SIGKILL. Printed as ``key=value``: the pause between the kill and the next Slack write of
the narration (a thread message or a status-card edit, by the survivor), the gap between the last
write before the kill and that one, and whether the run still reached exactly one summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bot.clock import SystemClock
from bot.sandbox.driver import SlackDriver
from bot.sandbox.server import create_sandbox, serve_asgi, serve_sandbox
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, create_simulator

SECRET = "takeover-signing-secret"  # noqa: S105 - a throw-away local secret
TOKEN = "xoxb-takeover"  # noqa: S105 - the sandbox's own token
CHANNEL, USER, APPROVER = "C0TAKEOVER", "U0OPS", "U0LEAD"
PLAN = "SAP Tier1"
NARRATION = ("chat.postMessage", "chat.update")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_ready(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} never became ready")
            await asyncio.sleep(0.2)


def start_bot(env: dict[str, str], out: IO[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=out, stderr=out)


def lease_owner(database_url: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT lease_owner FROM watches WHERE status = 'active' ORDER BY id LIMIT 1"
        ).fetchone()
    return str(row[0]) if row and row[0] else None


async def run(admin_url: str, speed: float) -> None:
    name = f"vro_takeover_{secrets.token_hex(4)}"
    admin = make_url(admin_url).set(drivername="postgresql")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # the name is generated here
    database_url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        await measure(database_url, speed)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(database_url: str, speed: float) -> None:
    sandbox = create_sandbox(
        users={USER: "ops", APPROVER: "lead"}, channels={CHANNEL: "takeover"}, tokens=frozenset({TOKEN})
    )
    sim = create_simulator(clock=SystemClock(), speed=speed)
    with (
        tempfile.TemporaryDirectory() as folder,
        serve_sandbox(sandbox) as running,
        serve_asgi(sim) as vro_url,
    ):
        base_env = {
            **os.environ,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": running.api_url,
            "VRO_URL": vro_url,
            "VRO_USERNAME": DEFAULT_USERNAME,
            "VRO_PASSWORD": DEFAULT_PASSWORD,
            "DATABASE_URL": database_url,
            "VRO_BOT_HTTP_HOST": "127.0.0.1",
            "VRO_BOT_LOG_FORMAT": "json",
        }
        subprocess.run(  # noqa: ASYNC221 - once, before anything runs
            [sys.executable, "-m", "bot.cli", "db", "upgrade"], env=base_env, check=True, capture_output=True
        )
        ports = [free_port(), free_port()]
        procs: list[subprocess.Popen[bytes]] = []
        log = Path(folder) / "bots.log"
        with log.open("w") as out:
            for port in ports:
                procs.append(start_bot({**base_env, "VRO_BOT_HTTP_PORT": str(port)}, out))
        try:
            for port in ports:
                await wait_ready(f"http://127.0.0.1:{port}/readyz", 60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}") as http:
                driver = SlackDriver(http=http, signing_secret=SECRET, clock=SystemClock(), sandbox=sandbox)
                await driver.command(f'failover "{PLAN}"', user_id=USER, channel_id=CHANNEL)
                cards = sandbox.workspace.find_message_with_action
                await wait_until("the approval card", lambda: bool(cards(CHANNEL, "vro_approve")), 30)
                card = cards(CHANNEL, "vro_approve")[0]
                await driver.click(
                    user_id=APPROVER, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve"
                )

            def writes() -> list[float]:
                return [c.monotonic for c in sandbox.log.calls() if c.method in NARRATION and c.ok]

            def thread() -> list[str]:
                return [m.text for m in sandbox.workspace.thread(CHANNEL, card.ts)]

            await wait_until("narration", lambda: sum("step update" in t for t in thread()) >= 2, 60)
            owner = await asyncio.to_thread(lease_owner, database_url)
            victim = next((p for p in procs if owner and owner.endswith(f"-{p.pid}-watcher")), procs[0])
            before = writes()
            victim.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            victim.wait(timeout=10)
            await wait_until("narration after the kill", lambda: any(t > killed for t in writes()), 120)
            resumed = min(t for t in writes() if t > killed)
            await wait_until("the summary", lambda: any(" finished" in t for t in thread()), 600)
            summaries = sum(" finished" in t for t in thread())
            posts = [r for r in sim.requests if r.method == "POST" and r.path.lower().endswith("/failover")]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)
    print(f"replicas=2 database=postgresql plan={PLAN!r} speed={speed:g}")
    print(
        f"killed_held_the_watch={'yes' if owner and victim.pid and owner.endswith(f'-{victim.pid}-watcher') else 'unknown'}"
    )
    print(f"narration_pause_after_kill_seconds={resumed - killed:.1f}")
    print(f"narration_gap_seconds={resumed - max(before):.1f}")
    print(f"summaries={summaries} vro_posts={len(posts)}")
    print("goal: narration_pause_after_kill_seconds < 20")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server URL (a database is created on it for the run, then dropped)",
    )
    parser.add_argument("--speed", type=float, default=4.0, help="simulated seconds per real second")
    args = parser.parse_args()
    asyncio.run(run(args.postgres, args.speed))
