"""Shared plumbing of the watcher and outbox benchmarks (not a benchmark itself).

Everything real except Slack: the simulator behind the real VRO client (ASGI transport), the
watcher on a migrated SQLite file, the outbox sender posting to :class:`CountingPoster`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import create_engine, session_factory
from bot.migrate import upgrade
from bot.simulator.app import Simulator, SimulatorConfig, create_simulator
from bot.simulator.estate import Estate
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient


@dataclass
class CountingPoster:
    """A SlackPoster that answers at once and counts (Slack itself is not what is measured)."""

    posts: int = 0
    updates: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    async def post_message(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None,
        thread_ts: str | None,
        reply_broadcast: bool,
        key: str,
    ) -> str:
        self.posts += 1
        self.by_channel[channel] = self.by_channel.get(channel, 0) + 1
        return f"1700000000.{self.posts:06d}"

    async def update_message(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None, key: str
    ) -> None:
        self.updates += 1

    async def find_by_metadata(
        self, *, channel: str, key: str, thread_ts: str | None, oldest: datetime | None
    ) -> str | None:
        return None


@dataclass
class Rig:
    sim: Simulator
    vro: VroClient
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    workdir: tempfile.TemporaryDirectory[str]

    async def close(self) -> None:
        await self.vro.aclose()
        await self.engine.dispose()
        self.workdir.cleanup()


async def build_rig(*, clock: Clock, estate: Estate, speed: float = 1.0) -> Rig:
    workdir = tempfile.TemporaryDirectory(prefix="vro-bench-")
    url = f"sqlite:///{Path(workdir.name) / 'bench.db'}"
    upgrade(url)
    engine = create_engine(url)
    sim = create_simulator(
        clock=clock, estate=estate, speed=speed, config=SimulatorConfig(request_log_size=2_000_000)
    )
    vro = VroClient(
        base_url="http://vro.bench",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
        retry=RetryPolicy(attempts=1),
        timeout=120,
    )
    return Rig(sim=sim, vro=vro, engine=engine, sessions=session_factory(engine), workdir=workdir)


def runtime_gets(sim: Simulator) -> int:
    """GET /RuntimeDetails requests the simulator served (cross-checks the watcher's own count)."""
    return sum(1 for r in sim.requests if r.method == "GET" and "/runtimedetails/" in r.path.lower())
