"""What negotiating VRO's REST API version costs, per VRO release.

    .venv/bin/python -m bench.api_versions

For each release's simulator (7.2.1, 13.0, 13.1, 13.2, and one serving every version), a
``VRO_API_VERSION=auto`` client probes once; the figure is the number of probe GETs
(``GET /api/{version}/Plans?limit=1``) before it settles, and how each version answered. After
that, requests go straight to the chosen version; a 404 costs at most one more probe per
``RECHECK_VERSION_SECONDS``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from bot.clock import FakeClock
from bot.simulator import SimulatorConfig, create_simulator
from bot.vro.auth import PasswordCredentials
from bot.vro.client import VroClient
from bot.vro.operations import KNOWN_API_VERSIONS, RELEASE_VERSIONS, product_name


async def _probe(served: tuple[str, ...]) -> tuple[str, list[str]]:
    clock = FakeClock(datetime(2026, 12, 5, tzinfo=UTC))
    sim = create_simulator(clock=clock, config=SimulatorConfig(api_versions=served))
    async with VroClient(
        base_url="http://vro.bench",
        credentials=PasswordCredentials("vro-bot", "vro-bot-demo"),
        transport=httpx.ASGITransport(app=sim),
        clock=clock,
    ) as vro:
        version = await vro.negotiate()
    probes = [f"{r.path.split('/')[2]}:{r.status}" for r in sim.requests if r.path != "/api/token"]
    return version, probes


async def main() -> None:
    cases = [(product_name(newest), served) for newest, served in RELEASE_VERSIONS.items()]
    cases.append(("every version", KNOWN_API_VERSIONS))
    for name, served in cases:
        version, probes = await _probe(served)
        print(f"{name:14} -> {version:6} after {len(probes)} probe GET(s): {', '.join(probes)}")


if __name__ == "__main__":
    asyncio.run(main())
