"""Fixtures: a simulator on a FakeClock, reached through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, create_simulator
from tests.simulator.helpers import FreshToken


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    return create_simulator(clock=clock)


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client on the simulator, signed in as the default user."""
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://vro.test", auth=FreshToken(sim)
    ) as client:
        yield client


@pytest.fixture
async def anon(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client on the simulator without any token."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim), base_url="http://vro.test"
    ) as client:
        yield client
