"""The event loop ``vro-bot run`` runs on: uvloop where it is installed, else asyncio's own.

uvloop does in C what asyncio's default loop does in Python (the selector, callbacks, socket
transports, waking the loop from aiosqlite's threads). One process watching 200 running plans
spends about a tenth less CPU per poll on it (``bench.watcher_scale``: 7.8-7.9 ms against
8.4-8.9 ms, three runs each). It is a dependency on Linux and macOS; where it is missing
(Windows, another Python) the bot runs on asyncio's loop, unchanged.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Coroutine
from types import ModuleType
from typing import Any, TypeVar

T = TypeVar("T")


def _uvloop() -> ModuleType | None:
    try:
        return importlib.import_module("uvloop")
    except ImportError:
        return None


def loop_name() -> str:
    """Which loop :func:`run_loop` uses here: ``uvloop`` or ``asyncio``."""
    return "asyncio" if _uvloop() is None else "uvloop"


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop where it is installed."""
    uvloop = _uvloop()
    if uvloop is None:
        return asyncio.run(main)
    result: T = uvloop.run(main)
    return result
