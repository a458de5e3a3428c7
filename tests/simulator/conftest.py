"""Fixtures: a simulator on a FakeClock, reached through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.clock import FakeClock
from bot.simulator import Simulator, SimulatorConfig, create_simulator
from bot.vro.operations import RELEASE_VERSIONS
from tests.simulator.helpers import FreshToken


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    """A VRO 7.2.1 server (v7.1, v7.2, v7.21): the helpers speak ``API`` = /api/v7.21.

    The v13.x differences have their own tests (tests/simulator/test_versions.py).
    """
    return create_simulator(clock=clock, config=SimulatorConfig(api_versions=RELEASE_VERSIONS["v7.21"]))


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
