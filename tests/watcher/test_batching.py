"""Thread batching (pure, on a simulated clock): live at the start, batched when fast, fair per channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.clock import DEFAULT_FAKE_START
from bot.watcher.batching import (
    BatchPolicy,
    ChannelLoad,
    RunPace,
    gap_seconds,
    is_notice,
    is_urgent,
    should_write,
)

POLICY = BatchPolicy()
POLL = 5.0
T0 = DEFAULT_FAKE_START


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Run:
    """One watch as the watcher drives it: events seen at each poll, written when the policy says.

    VRO's progress grows evenly over ``duration`` seconds.
    """

    duration: float = 60.0
    messages: int = 0
    flushed_at: datetime | None = None
    pending_since: list[float] = field(default_factory=list)  # when each waiting event happened
    lags: list[float] = field(default_factory=list)

    def poll(self, now: float, events: list[float], channel: ChannelLoad, *, urgent: bool = False) -> bool:
        self.pending_since.extend(events)
        pace = RunPace(
            messages=self.messages,
            flushed_at=self.flushed_at,
            pending=len(self.pending_since),
            elapsed_seconds=now,
            progress=min(100.0, 100.0 * now / self.duration),
        )
        if not should_write(POLICY, pace, channel, now=at(now), urgent=urgent):
            return False
        self.lags.extend(now - happened for happened in self.pending_since)
        self.pending_since.clear()
        self.messages += 1
        self.flushed_at = at(now)
        return True


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def test_a_small_plans_first_step_is_written_at_the_poll_that_saw_it() -> None:
    run = Run()
    assert run.poll(5.0, [3.0], ChannelLoad())
    assert run.lags == [2.0]


def test_the_first_events_of_a_run_go_at_once_in_a_channel_shared_with_other_runs() -> None:
    assert Run().poll(5.0, [4.0], ChannelLoad(runs=30, backlog=3))


def test_a_channel_that_is_behind_gets_only_urgent_messages() -> None:
    behind = ChannelLoad(runs=30, backlog=POLICY.backlog_posts)
    assert not Run().poll(5.0, [4.0], behind)
    assert Run().poll(5.0, [4.0], behind, urgent=True)


def test_nothing_waiting_is_never_written() -> None:
    pace = RunPace(messages=0, flushed_at=None, pending=0)
    assert not should_write(POLICY, pace, ChannelLoad(), now=at(0), urgent=True)


@pytest.mark.parametrize("minutes", [1, 5])
def test_a_plan_of_up_to_a_hundred_vms_is_narrated_live_poll_by_poll(minutes: int) -> None:
    """Every poll of a short run sees a few transitions: each poll's events go at once."""
    run = Run(duration=minutes * 60)
    for poll in range(1, minutes * 12 + 1):
        now = poll * POLL
        assert run.poll(now, [now - 4.0, now - 1.0], ChannelLoad())
    assert max(run.lags) <= POLL


def test_a_fast_long_run_gathers_its_events_but_no_event_waits_past_the_gap() -> None:
    """A 1,000-VM plan for 50 minutes, transitions every second: tens of messages, each event in time."""
    run = Run(duration=50 * 60)
    written = 0
    for poll in range(1, int(50 * 60 / POLL) + 1):
        now = poll * POLL
        written += run.poll(now, [now - 5 + i for i in range(5)], ChannelLoad())
    assert written <= 80
    assert max(run.lags) <= POLICY.max_gap_seconds + 2 * POLL
    assert sum(run.lags) / len(run.lags) < POLICY.max_gap_seconds


def test_an_event_after_a_quiet_spell_goes_at_once_even_late_in_a_long_run() -> None:
    run = Run(duration=3600, messages=60, flushed_at=at(1000))
    assert not run.poll(1010.0, [1009.0], ChannelLoad())  # still within the gap of a long run
    assert run.poll(1000 + POLICY.max_gap_seconds, [1030.0], ChannelLoad())
    quiet = Run(duration=3600, messages=60, flushed_at=at(1000))
    assert quiet.poll(1300.0, [1299.0], ChannelLoad())


@pytest.mark.parametrize("kind", ["plan_halted", "finished", "plan_state", "vro_unreachable", "stopped"])
def test_urgent_events_never_wait(kind: str) -> None:
    assert is_urgent(["started", kind])
    run = Run(duration=3600, messages=60, flushed_at=at(1000))
    busy = ChannelLoad(runs=30, backlog=100)
    assert run.poll(1001.0, [1000.5], busy, urgent=True)


def test_halts_summaries_and_outages_are_notices_but_steps_are_not() -> None:
    assert is_notice(["completed", "plan_halted"])
    assert is_notice(["finished"])
    assert not is_notice(["started", "completed", "issue", "plan_state"])


def test_a_full_batch_is_written_even_while_the_channel_is_backed_up() -> None:
    pace = RunPace(messages=50, flushed_at=at(0), pending=POLICY.max_pending_events)
    assert should_write(POLICY, pace, ChannelLoad(runs=30, backlog=100), now=at(1), urgent=False)


def test_the_gap_follows_the_length_the_run_is_heading_for_up_to_the_cap() -> None:
    def gap(messages: int, elapsed: float, progress: float) -> float:
        pace = RunPace(
            messages=messages, flushed_at=None, pending=1, elapsed_seconds=elapsed, progress=progress
        )
        return gap_seconds(POLICY, pace, ChannelLoad())

    assert gap(0, 30.0, 1.0) == 0.0  # the first messages go at once
    assert gap(10, 30.0, 0.0) == 0.0  # no progress yet: no estimate
    assert gap(10, 60.0, 50.0) == pytest.approx(120.0 / POLICY.messages_per_run)  # a two-minute run
    assert gap(10, 600.0, 10.0) == POLICY.max_gap_seconds  # an hour and more


def test_runs_sharing_a_channel_share_its_budget() -> None:
    pace = RunPace(messages=20, flushed_at=None, pending=1, elapsed_seconds=60.0, progress=20.0)
    alone = gap_seconds(POLICY, pace, ChannelLoad(runs=1))
    shared = gap_seconds(POLICY, pace, ChannelLoad(runs=120))
    assert shared == pytest.approx(120 / (POLICY.channel_posts_per_second * POLICY.thread_share))
    assert shared > alone


def test_batching_off_writes_every_poll() -> None:
    off = BatchPolicy(max_gap_seconds=0)
    pace = RunPace(messages=500, flushed_at=at(0), pending=1)
    assert should_write(off, pace, ChannelLoad(runs=30, backlog=100), now=at(0.1), urgent=False)


def test_a_storm_of_events_in_many_runs_stays_within_the_channels_budget() -> None:
    """40 runs in one channel, every run seeing transitions at every poll for 20 minutes.

    The channel drains one post a second; the policy adds no more than that, so the backlog
    stays bounded, and every run keeps being narrated.
    """
    runs = [Run(duration=20 * 60) for _ in range(40)]
    backlog = 0.0
    written = 0
    longest_backlog = 0.0
    seconds = 20 * 60
    for poll in range(1, int(seconds / POLL) + 1):
        now = poll * POLL
        backlog = max(0.0, backlog - POLL * POLICY.channel_posts_per_second)  # the sender's pace
        for index, run in enumerate(runs):
            now_i = now + index * POLL / len(runs)  # the watches' polls are spread over the interval
            channel = ChannelLoad(runs=len(runs), backlog=int(backlog))
            if run.poll(now_i, [now_i - 2.0, now_i - 1.0], channel):
                backlog += 1
                written += 1
        longest_backlog = max(longest_backlog, backlog)
    assert written <= seconds * POLICY.channel_posts_per_second
    assert longest_backlog <= POLICY.backlog_posts + len(runs)
    assert backlog <= POLICY.backlog_posts
    for run in runs:
        assert run.messages >= seconds / 120  # at least one message every two minutes each
        assert not run.pending_since or now - run.pending_since[0] <= 120
