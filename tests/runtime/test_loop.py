"""``vro-bot run`` runs on uvloop where it is installed, and on asyncio's own loop where not."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.runtime.loop import loop_name, run_loop


async def running_loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_the_bot_runs_on_uvloop_where_it_is_a_dependency() -> None:
    if sys.platform == "win32" or sys.implementation.name != "cpython":
        pytest.skip("uvloop is a dependency on CPython outside Windows only")
    assert loop_name() == "uvloop"
    assert run_loop(running_loop_module()).startswith("uvloop")


def test_without_uvloop_the_bot_runs_on_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # an import of it now raises ImportError
    assert loop_name() == "asyncio"
    assert run_loop(running_loop_module()).startswith("asyncio")


def test_the_loop_hands_back_the_result_and_the_exception() -> None:
    async def fails() -> None:
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        run_loop(fails())
