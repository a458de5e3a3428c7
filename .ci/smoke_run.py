"""Real-process smoke test of `vro-bot run`, in HTTP mode and in Socket Mode, run by .ci/run.

The simulator and the Slack sandbox are served on loopback; `vro-bot run` is started as its own
process with nothing but environment variables, exactly as an operator would; then /healthz,
/readyz and /metrics are read, `/vro plans` and `/vro failover` are sent (signed over HTTP, or as
envelopes over the bot's Socket Mode websocket), the answers are awaited in the sandbox, and
SIGTERM must stop the bot cleanly. Exits non-zero on failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bot.clock import SystemClock
from bot.sandbox.driver import SlackDriver
from bot.sandbox.server import create_sandbox, serve_asgi, serve_sandbox
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, create_simulator

SECRET = "smoke-signing-secret"  # noqa: S105 - a throw-away local secret
TOKEN = "xoxb-smoke-token"  # noqa: S105 - the sandbox's own token
APP_TOKEN = "xapp-smoke-token"  # noqa: S105 - the sandbox's own app-level token
CHANNEL, USER, APPROVER = "C0SMOKE", "U0SMOKE", "U0LEAD"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str, deadline: float) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def main() -> int:
    await smoke(socket_mode=False)
    await smoke(socket_mode=True)
    await kill_mid_run()
    return 0


def bot_env(slack_api_url: str, vro_url: str, folder: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a `vro-bot run` on the sandbox and the simulator, in HTTP mode."""
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_api_url,
        "VRO_URL": vro_url,
        "VRO_USERNAME": DEFAULT_USERNAME,
        "VRO_PASSWORD": DEFAULT_PASSWORD,
        "DATABASE_URL": f"sqlite:///{folder / 'smoke.db'}",
        "VRO_BOT_AUTO_MIGRATE": "true",
        "VRO_BOT_HTTP_HOST": "127.0.0.1",
        "VRO_BOT_HTTP_PORT": str(port),
        "VRO_BOT_LOG_FORMAT": "json",
        **extra,
    }


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=out, stderr=out)


async def wait_until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def kill_mid_run() -> None:
    """SIGKILL `vro-bot run` while it narrates a failover; a restarted one finishes the same thread.

    The plan runs for about 20 s; the bot is killed after the first narration lines and started
    again on the same database. The card's thread must reach exactly one summary, VRO must have
    been asked exactly once, and no line may be posted twice.
    """
    sandbox = create_sandbox(
        users={USER: "smoke", APPROVER: "lead"}, channels={CHANNEL: "smoke"}, tokens=frozenset({TOKEN})
    )
    sim = create_simulator(clock=SystemClock(), speed=6.0)
    with (
        tempfile.TemporaryDirectory() as folder,
        serve_sandbox(sandbox) as running,
        serve_asgi(sim) as vro_url,
    ):
        port = free_port()
        env = bot_env(running.api_url, vro_url, Path(folder), port, VRO_BOT_POLL_SECONDS="1")
        log = Path(folder) / "bot.log"
        bot = start_bot(env, log)
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_http(f"{base}/readyz", time.monotonic() + 30)
            async with httpx.AsyncClient(base_url=base) as http:
                driver = SlackDriver(http=http, signing_secret=SECRET, clock=SystemClock(), sandbox=sandbox)
                await driver.command('failover "Web Frontend"', user_id=USER, channel_id=CHANNEL)
                cards = sandbox.workspace.find_message_with_action
                await wait_until("the approval card", lambda: bool(cards(CHANNEL, "vro_approve")), 20)
                card = cards(CHANNEL, "vro_approve")[0]
                await driver.click(
                    user_id=APPROVER, channel_id=CHANNEL, message_ts=card.ts, action_id="vro_approve"
                )

            def thread() -> list[str]:
                return [m.text for m in sandbox.workspace.thread(CHANNEL, card.ts)]

            await wait_until("narration", lambda: sum("step update" in t for t in thread()) >= 1, 30)
        finally:
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=10)
        killed_at = len(thread())
        again = start_bot(env, log)
        try:
            await wait_until(
                "the summary after the restart", lambda: any(" finished" in t for t in thread()), 90
            )
        finally:
            again.send_signal(signal.SIGTERM)
            code = again.wait(timeout=30)
        text = log.read_text()
        assert code == 0, f"the restarted vro-bot run exited {code}\n{text[-3000:]}"
        lines = thread()
        assert sum(" finished" in t for t in lines) == 1, lines
        keys = [str(m.metadata) for m in sandbox.workspace.thread(CHANNEL, card.ts) if m.metadata]
        assert len(keys) == len(set(keys)), "a message was posted twice"
        posts = [r for r in sim.requests if r.method == "POST" and r.path.lower().endswith("/failover")]
        assert len(posts) == 1, f"VRO was asked {len(posts)} times"
        print(  # noqa: T201
            f"vro-bot run killed mid-run (SIGKILL, {killed_at} thread lines) and restarted: "
            f"the same thread reached its summary ({len(lines)} lines), one POST to VRO"
        )


async def smoke(*, socket_mode: bool) -> None:
    """One `vro-bot run` process, over HTTP or (``socket_mode``) Socket Mode."""
    sandbox = create_sandbox(
        users={USER: "smoke"},
        channels={CHANNEL: "smoke"},
        tokens=frozenset({TOKEN}),
        app_tokens=frozenset({APP_TOKEN}),
    )
    sim = create_simulator(clock=SystemClock())
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as folder,
        serve_sandbox(sandbox) as running,
        serve_asgi(sim) as vro_url,
    ):
        env = bot_env(running.api_url, vro_url, Path(folder), port)
        if socket_mode:
            env["SLACK_APP_TOKEN"] = APP_TOKEN
            del env["SLACK_SIGNING_SECRET"]
        log = Path(folder) / "bot.log"
        with log.open("w") as out:
            bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=out, stderr=out)  # noqa: ASYNC220 - started once, before the event loop has work
            try:
                base = f"http://127.0.0.1:{port}"
                health = await wait_http(f"{base}/healthz", time.monotonic() + 30)
                assert health.status_code == 200, health.text
                if socket_mode:
                    await sandbox.socket_mode.wait_connected(within_seconds=30)
                ready = await wait_http(f"{base}/readyz", time.monotonic() + 10)
                assert ready.status_code == 200, ready.text
                async with httpx.AsyncClient(base_url=base) as http:
                    driver = SlackDriver(
                        http=http,
                        signing_secret=SECRET,
                        clock=SystemClock(),
                        sandbox=sandbox,
                        socket=sandbox.socket_mode if socket_mode else None,
                    )
                    assert (
                        await driver.command("plans", user_id=USER, channel_id=CHANNEL)
                    ).status_code == 200
                    reply = await driver.command('failover "SAP Tier1"', user_id=USER, channel_id=CHANNEL)
                    assert reply.status_code == 200, reply.text
                    await sandbox.log.wait_for("chat.postMessage", within_seconds=20)
                    metrics = await http.get("/metrics")
                    assert 'vro_bot_commands_total{outcome="ok",verb="plans"}' in metrics.text, metrics.text[
                        :2000
                    ]
                deadline = time.monotonic() + 20
                while not any(
                    "SAP Tier1" in str(p.body) for h in sandbox.workspace.hooks.values() for p in h.posts
                ):
                    assert time.monotonic() < deadline, "no answer to /vro plans"
                    await asyncio.sleep(0.2)
                cards = sandbox.workspace.find_message_with_action(CHANNEL, "vro_approve")
                assert len(cards) == 1, "no approval card for the failover"
                if socket_mode:
                    assert [e.type for e in sandbox.socket_mode.envelopes] == ["slash_commands"] * 2
                    assert all(e.acked for e in sandbox.socket_mode.envelopes)
                    events = await http_status(f"{base}/slack/events")
                    assert events == 404, "Socket Mode must not serve the unsigned /slack/events"
            finally:
                bot.send_signal(signal.SIGTERM)
                code = bot.wait(timeout=30)
        text = log.read_text()
        assert code == 0, f"vro-bot run exited {code}\n{text[-3000:]}"
        assert '"level": "error"' not in text, text[-3000:]
        assert SECRET not in text
        assert TOKEN not in text
        mode = "Socket Mode" if socket_mode else "HTTP mode"
        print(f"vro-bot run ({mode}): healthz, readyz, a query, an approval card, metrics, clean stop")  # noqa: T201


async def http_status(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.post(url, content=b"command=%2Fvro&text=plans")).status_code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
