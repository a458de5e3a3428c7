"""Fixtures of the operations tests: a private metrics registry and logging that is undone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.clock import FakeClock
from bot.observability.logging import LoggingSetup
from bot.observability.metrics import Metrics, create_metrics


@pytest.fixture
def metrics(clock: FakeClock) -> Metrics:
    """Metrics on their own registry, timed by the fake clock, without process collectors."""
    return create_metrics(process_metrics=False, clock=clock)


@pytest.fixture
def restore_logging() -> Iterator[list[LoggingSetup]]:
    """Collects logging setups made by a test and undoes them afterwards."""
    setups: list[LoggingSetup] = []
    yield setups
    for setup in reversed(setups):
        setup.restore()
