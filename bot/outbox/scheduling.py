"""Which waiting message the sender sends next (pure: rows in, a choice out).

**Posts, per channel.** Slack takes about one post a second per channel, so when a site fails
over and thirty runs narrate in one channel, the order decides who waits. A thread's posts go
in the order they were written (a reply never overtakes what it answers), so only each
thread's *head* (its oldest waiting post) may go. Among the heads:

1. a thread holding a priority message (a summary, a halt notice) goes first, even when that
   message still waits behind the thread's earlier posts;
2. then the thread served least recently: every thread moves, a talkative one cannot starve
   the others (a thread never served goes early);
3. then the oldest.

The channel's top-level messages (cards) are one more such queue, in their order; a top-level
notice (a post with a priority, such as the channel board) follows nothing and waits alone.

A thread whose head may not go yet (its parent is not in Slack, it waits for a retry, another
sender holds it) waits whole; the other threads go on.

**Card edits, workspace-wide.** ``chat.update`` is budgeted for the whole workspace (Tier 3,
about 50 a minute). The edits that may go now (the card's own minimum interval passed) are
sent in order of priority (the plan changed state), then staleness: the card that has been
showing outdated information the longest is redrawn first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WaitingPost:
    """One waiting post of a channel, as the scheduler sees it."""

    id: int
    thread: str  # the queue it waits in: its thread, or the channel's top level
    priority: int = 0
    ready: bool = True  # may go now (due, unclaimed, its parent is in Slack)


@dataclass(frozen=True)
class WaitingEdit:
    """The newest waiting edit of one message."""

    target: str
    priority: int
    stale_since: float  # when the oldest change it carries was written (seconds, any origin)
    ready: bool = True  # its message is in Slack and its minimum interval has passed


def next_post(posts: Sequence[WaitingPost], served: Mapping[str, float]) -> WaitingPost | None:
    """The post to send next, or None when no thread's head may go now.

    ``posts`` may come in any order; ``served`` maps a thread to when it was last served.
    """
    heads: dict[str, WaitingPost] = {}
    priority: dict[str, int] = {}
    for post in posts:
        head = heads.get(post.thread)
        if head is None or post.id < head.id:
            heads[post.thread] = post
        priority[post.thread] = max(priority.get(post.thread, post.priority), post.priority)
    ready = [head for head in heads.values() if head.ready]
    if not ready:
        return None
    return min(
        ready,
        key=lambda head: (-priority[head.thread], served.get(head.thread, float("-inf")), head.id),
    )


def edit_order(edits: Sequence[WaitingEdit]) -> list[WaitingEdit]:
    """The edits that may go now, the one to send first first."""
    return sorted(
        (edit for edit in edits if edit.ready),
        key=lambda edit: (-edit.priority, edit.stale_since, edit.target),
    )
