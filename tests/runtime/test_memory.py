"""``vro-bot run`` caps glibc's malloc arenas, so SQLite's threads share two instead of one each."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from bot.runtime.memory import ARENAS, limit_malloc_arenas

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap is glibc's")

# Eight threads that each allocate at once, then glibc's own account of its arenas on stderr.
THREADS = textwrap.dedent(
    """
    import ctypes, sys, threading
    from bot.runtime.memory import limit_malloc_arenas
    if sys.argv[1] == "cap":
        print(limit_malloc_arenas())
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    ready = threading.Barrier(8)
    done = threading.Barrier(9)
    def allocate():
        ready.wait()
        libc.malloc(4096)
        done.wait()
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    done.wait()
    libc.malloc_stats()
    """
)


def arenas_used(mode: str, **env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-c", THREADS, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=environ,
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


@glibc
def test_threads_share_two_arenas_once_capped() -> None:
    printed, arenas = arenas_used("cap")
    assert printed == str(ARENAS)
    assert arenas <= ARENAS


@glibc
def test_without_the_cap_each_thread_takes_its_own_arena() -> None:
    # What the cap is for: this is glibc's default the test above would see without it.
    _, arenas = arenas_used("default")
    assert arenas > ARENAS


@glibc
def test_an_operator_s_malloc_arena_max_wins() -> None:
    assert limit_malloc_arenas(environ={"MALLOC_ARENA_MAX": "4"}) == 4
    printed, arenas = arenas_used("cap", MALLOC_ARENA_MAX="4")
    assert printed == "4"
    assert ARENAS < arenas <= 4


def test_nothing_changes_off_glibc() -> None:
    assert limit_malloc_arenas(libc="") is None
    assert limit_malloc_arenas(libc="musl", environ={"MALLOC_ARENA_MAX": "4"}) is None
