"""When a watch writes the events it has seen as a thread message (pure: numbers in, a yes or no out).

People read the thread while the run happens, so a step should appear within seconds; but a
1,000-VM plan produces thousands of transitions, and Slack takes about one post a second per
channel. The policy balances the two:

* **The start of a run is live.** A run's first ``instant_messages`` thread messages go at the
  poll that saw their events (unless the channel is already behind).
* **A run is told in about the same number of messages, however long it is.** From VRO's
  progress and the time the run has taken so far, the policy estimates the run's length and
  keeps a *gap* of that length / ``messages_per_run`` between two messages of the run (at
  most ``max_gap_seconds``). A one-minute plan is narrated poll by poll; an hour-long
  1,000-VM plan gathers the events of up to ``max_gap_seconds`` into each message (grouped
  by VM and group when rendered, so it still reads as a story). The gap counts from the
  run's previous message: an event after a quiet spell goes at once, events that come fast
  gather.
* **The channel's budget is shared.** The thread messages of every run in a channel may use
  ``thread_share`` of the channel's pace together (the rest is left for summaries, notices and
  cards), so with many runs each one waits its fair turn; and while the channel already has
  ``backlog_posts`` posts waiting, only urgent messages are added.
* ``max_gap_seconds = 0`` turns batching off: every poll's events are written at once.
* **Some things never wait**: a state change, a halt, the end of the run, VRO going away or
  coming back (``URGENT_KINDS``); and a batch that grew to ``max_pending_events``.

Every transition, warning and error still appears: batching only decides *when* the waiting
events are written, never whether.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Events that are written at once, whatever the gap or the channel's backlog.
URGENT_KINDS = frozenset(
    {
        "plan_state",
        "plan_halted",
        "plan_resumed",
        "finished",
        "vro_unreachable",
        "vro_back",
        "runtime_reset",
        "stopped",
    }
)

# Messages people must see before the rest of the channel's backlog (the sender serves them first).
NOTICE_KINDS = frozenset({"plan_halted", "finished", "vro_unreachable", "runtime_reset", "stopped"})


@dataclass(frozen=True)
class BatchPolicy:
    """The knobs of thread batching (production defaults)."""

    instant_messages: int = 3
    messages_per_run: int = 60
    max_gap_seconds: float = 45.0
    channel_posts_per_second: float = 1.0
    thread_share: float = 0.6
    backlog_posts: int = 15
    max_pending_events: int = 400

    def __post_init__(self) -> None:
        if self.channel_posts_per_second <= 0 or not 0 < self.thread_share <= 1:
            raise ValueError("a channel needs a positive pace and a thread share in (0, 1]")


@dataclass(frozen=True)
class RunPace:
    """What a watch knows about its own narration."""

    messages: int  # thread messages written for this run so far
    flushed_at: datetime | None  # when the last of them was written
    pending: int  # events waiting to be written (the ones just seen included)
    elapsed_seconds: float = 0.0  # how long the run has been going (the bot's clock)
    progress: float = 0.0  # VRO's percent complete of the run


@dataclass(frozen=True)
class ChannelLoad:
    """How busy the channel is: runs narrated there and posts waiting to be sent."""

    runs: int = 1
    backlog: int = 0


def is_urgent(kinds: Iterable[str]) -> bool:
    """Whether any of these event kinds is written at once."""
    return any(kind in URGENT_KINDS for kind in kinds)


def is_notice(kinds: Iterable[str]) -> bool:
    """Whether a message with these event kinds goes ahead of the channel's other posts."""
    return any(kind in NOTICE_KINDS for kind in kinds)


def expected_seconds(run: RunPace) -> float | None:
    """How long the whole run should take, from its progress so far (None while unknown)."""
    if run.progress <= 0 or run.elapsed_seconds <= 0:
        return None
    return run.elapsed_seconds * 100.0 / min(100.0, run.progress)


def gap_seconds(policy: BatchPolicy, run: RunPace, channel: ChannelLoad) -> float:
    """The least time between two thread messages of this run."""
    expected = expected_seconds(run)
    own = 0.0
    if run.messages >= policy.instant_messages and expected is not None:
        own = min(policy.max_gap_seconds, expected / policy.messages_per_run)
    if channel.runs <= 1:
        return own
    fair = channel.runs / (policy.channel_posts_per_second * policy.thread_share)
    return max(own, fair)


def should_write(
    policy: BatchPolicy, run: RunPace, channel: ChannelLoad, *, now: datetime, urgent: bool
) -> bool:
    """Whether the waiting events are written as a thread message now (else they wait a poll)."""
    if run.pending <= 0:
        return False
    if urgent or run.pending >= policy.max_pending_events or policy.max_gap_seconds <= 0:
        return True
    if channel.backlog >= policy.backlog_posts:
        return False  # the channel is behind: fewer, fuller messages
    if run.flushed_at is None:
        return True  # a run's first events go at once
    return (now - run.flushed_at).total_seconds() >= gap_seconds(policy, run, channel)
