"""How many malloc arenas ``vro-bot run`` lets glibc keep.

glibc gives each thread that allocates its own arena, up to eight per core. The bot's threads
are aiosqlite's, one per SQLite connection: each arena keeps what its thread once freed (SQLite's
page cache, statement buffers) and is rarely trimmed, so a process watching 200 plans held about
7 MiB more with one arena per thread than with two in all (``bench.watcher_scale``: max RSS 143
against 136 MiB). Two is the usual cap for services with a few busy threads (it is what
``MALLOC_ARENA_MAX=2`` sets); the threads here spend most of their time in SQLite, not in malloc.

``MALLOC_ARENA_MAX`` in the environment wins: glibc has read it already, and the cap is left as
it says. Elsewhere than glibc (musl, macOS, Windows) nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Mapping

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(
    arenas: int = ARENAS, *, environ: Mapping[str, str] = os.environ, libc: str | None = None
) -> int | None:
    """Cap glibc's malloc arenas at ``arenas``; the cap now in force, or None where unknown.

    ``libc`` is the C library's name as :func:`platform.libc_ver` gives it (asked when None).
    """
    if (libc if libc is not None else platform.libc_ver()[0]) != "glibc":
        return None
    if (given := environ.get("MALLOC_ARENA_MAX", "").strip()).isdigit():
        return int(given)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return arenas if mallopt(_M_ARENA_MAX, arenas) == 1 else None
