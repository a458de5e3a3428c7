"""Fixtures: a simulator on a FakeClock, reached through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, create_simulator


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    return create_simulator(clock=clock)


class FreshToken(httpx.Auth):
    """Signs every request with a new token, so tests may move the clock by hours."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.sim.token()}"
        yield request


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
