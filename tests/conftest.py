"""Fixtures shared by every test package. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import pytest

from bot.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so."""
    return FakeClock()
