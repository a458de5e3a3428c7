"""The watcher's settings and counters, and what it hands the audit log when a run ends."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.watcher.batching import BatchPolicy
from bot.watcher.lifecycle import DEFAULT_NO_RUN_SECONDS
from bot.watcher.render import WatchInfo
from bot.watcher.runs import RunRecord


@dataclass(frozen=True)
class WatcherConfig:
    """Timing and sizing of the watcher (``bot.runtime.watcher_config_from`` maps the environment)."""

    poll_seconds: float = 5.0  # VRO_BOT_POLL_SECONDS: while a plan runs
    poll_max_seconds: float = 60.0  # VRO_BOT_POLL_MAX_SECONDS: the slowest poll when nothing moves
    backoff_factor: float = 2.0
    # The longest gap between two thread messages of a busy run (bot.watcher.batching); 0 writes
    # every poll's events at once (tests, demos).
    batch_seconds: float = 45.0
    card_interval: float = 5.0  # the status card is edited at most this often
    lease_seconds: float = 12.0  # a lease not renewed for this long belongs to a dead process
    heartbeat_seconds: float = 3.0  # how often the run loop renews its leases (and looks for dead ones)
    no_run_seconds: float = DEFAULT_NO_RUN_SECONDS  # VRO_BOT_NO_RUN_MINUTES: an action that shows no run
    max_pending_events: int = 400  # a batch this full is written out early
    # How often the per-channel load (runs narrated there, posts waiting) is read again.
    load_refresh_seconds: float = 2.0
    # The run loop polls the watches due within this many seconds together (one cycle).
    cycle_seconds: float = 0.25
    announce_channel: str | None = None  # VRO_BOT_ANNOUNCE_CHANNEL
    announce_seconds: float = 30.0
    concurrency: int = 32  # watches polled at once
    fetch_concurrency: int = 8  # VRO requests at once within one watch's poll
    # VRO requests at once over all watches. Without a bound, ``concurrency`` x
    # ``fetch_concurrency`` requests queue inside httpx's connection pool, whose bookkeeping
    # costs grow with the queue (and VRO gains nothing from a hundred parallel reads).
    vro_concurrency: int = 8
    # Polls writing their findings at once. Each write holds a database connection, and on
    # SQLite writes take turns anyway: with all ``concurrency`` polls queueing for the turn, each
    # holding a connection, the pool overflowed and opened (and closed) connections by the
    # hundred a minute, a thread and a handful of PRAGMAs each. On PostgreSQL four at once keep
    # up with thousands of polls a minute.
    write_concurrency: int = 4
    # A channel with this many runs narrated at once gets a board (bot.watcher.board); 0: never.
    board_min_runs: int = 3
    board_seconds: float = 5.0  # how often the boards are brought up to date

    @property
    def batching(self) -> BatchPolicy:
        return _batch_policy(self.batch_seconds, self.max_pending_events)


@dataclass
class WatcherStats:
    """Counters for metrics and benchmarks."""

    polls: int = 0
    polled: Counter[int] = field(default_factory=Counter)  # watch id -> polls by this process
    vro_requests: int = 0
    events: int = 0
    messages: int = 0
    card_updates: int = 0
    lost_leases: int = 0
    # JSON of snapshot heads and items written (counted with record_lag, for the benches).
    snapshot_bytes: int = 0
    unreachable: int = 0
    # (VRO's timestamp of a transition, when its outbox row was written), for lag figures.
    lags: list[float] = field(default_factory=list)
    # (watch id, event seq, kind, scope, VRO's timestamp) of every narrated transition.
    transitions: list[tuple[int, int, str, str, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class FinishedRun:
    """A run whose summary is being written: for the audit log (``run_finished``)."""

    watch_id: int
    request_id: str | None
    info: WatchInfo
    record: RunRecord
    at: datetime  # the bot's time of the summary


RunFinished = Callable[[AsyncSession, FinishedRun], Awaitable[None]]


@functools.cache
def _batch_policy(max_gap_seconds: float, max_pending_events: int) -> BatchPolicy:
    return BatchPolicy(max_gap_seconds=max_gap_seconds, max_pending_events=max_pending_events)
