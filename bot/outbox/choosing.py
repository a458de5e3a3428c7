"""Which waiting rows one pass of the sender sends: posts per channel, card edits workspace-wide.

The order itself is the pure policy of :mod:`bot.outbox.scheduling`; this module reads the rows
into it, within what the pace allows (:class:`~bot.outbox.pacing.Pacing`), and notes when to
look again for what may not go yet. It writes nothing: the rows that can never go (their
parent or target failed) and the edits a newer edit replaces are handed back to the sender.
"""

from __future__ import annotations

from datetime import datetime

from bot.clock import Clock
from bot.outbox.ledger import Parent, Waiting
from bot.outbox.pacing import Pacing
from bot.outbox.scheduling import WaitingEdit, WaitingPost, edit_order, next_post
from bot.outbox.tables import (
    PRIORITY_NORMAL,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_SENT,
    STATUS_SUPERSEDED,
)

MAX_SERVED_THREADS = 4096  # threads remembered per channel for fairness (pruned beyond)
TOP_LEVEL = "channel"

Failed = list[tuple[Waiting, str]]  # rows that can never go, and why


class Chooser:
    """Chooses a pass's posts and edits for one sender (``owner``); remembers who was served."""

    def __init__(self, *, pacing: Pacing, clock: Clock, owner: str, idle_seconds: float) -> None:
        self._pacing = pacing
        self._clock = clock
        self._owner = owner
        self._idle = idle_seconds
        self._served: dict[str, dict[str, float]] = {}  # channel -> thread -> monotonic last served

    def choose_posts(
        self, channel: str, rows: list[Waiting], refs: dict[str, Parent], now: datetime, failed: Failed
    ) -> list[tuple[Waiting, str | None]]:
        """The channel's posts to send in this pass, in order, as its budget allows (fairest first)."""
        pacing = self._pacing
        blocked = pacing.channel_blocked_for(channel)
        if blocked > 0:
            pacing.note_wake(blocked)
            return []
        bucket = pacing.bucket(channel)
        served = self._served.setdefault(channel, {})
        chosen: list[tuple[Waiting, str | None]] = []
        rows = list(rows)
        while rows:
            if (wait := bucket.wait_time()) > 0:
                pacing.note_wake(wait)
                break
            by_id = {row.id: row for row in rows}
            choice = next_post(
                [
                    WaitingPost(
                        id=row.id,
                        thread=thread_of(row),
                        priority=row.priority,
                        ready=self._post_ready(row, refs, now),
                    )
                    for row in rows
                ],
                served,
            )
            if choice is None:
                break
            row = by_id[choice.id]
            rows.remove(row)
            thread_ts, problem = parent_ts(row, refs)
            if problem is not None:
                failed.append((row, problem))
                refs[row.key] = Parent(STATUS_FAILED, None)  # its replies fail too
                continue
            if not bucket.try_take():
                break
            served[choice.thread] = self._clock.monotonic()
            chosen.append((row, thread_ts))
        if len(served) > MAX_SERVED_THREADS:  # forget threads with nothing waiting
            live = {thread_of(row) for row in rows}
            self._served[channel] = {t: at for t, at in served.items() if t in live}
        return chosen

    def _post_ready(self, row: Waiting, refs: dict[str, Parent], now: datetime) -> bool:
        """Whether ``row`` may go now if it heads its thread (noting when to look again if not)."""
        if not self._due(row, now):
            return False
        if row.claimed_by not in (None, self._owner) and row.claimed_until and row.claimed_until > now:
            self._pacing.note_wake((row.claimed_until - now).total_seconds())
            return False  # another sender is on it
        if row.parent_key is not None:
            parent = refs.get(row.parent_key)
            if parent is not None and parent.status == STATUS_PENDING:
                self._pacing.note_wake(self._idle)
                return False  # the parent is not in Slack yet
        return True

    def choose_edits(
        self, rows: list[Waiting], refs: dict[str, Parent], now: datetime, failed: Failed
    ) -> tuple[list[tuple[Waiting, str, str]], list[int]]:
        """The card edits to send in this pass, (row, target, ts) most urgent and stale first;
        and the ids of the edits a newer edit of their message replaces (to supersede).

        Edits of one message collapse to the newest.
        """
        pacing = self._pacing
        wait = pacing.edit_wait()
        if wait > 0:  # with the edit budget spent there is nothing to choose
            pacing.note_wake(wait)
            return [], []
        newest: dict[str, Waiting] = {}
        stale: list[int] = []
        since: dict[str, datetime] = {}
        priority: dict[str, int] = {}
        for row in rows:
            target = row.target_key or f"ts:{row.target_ts}"
            if target in newest:
                stale.append(newest[target].id)
            newest[target] = row
            since[target] = min(since.get(target, row.created_at), row.created_at)
            priority[target] = max(priority.get(target, row.priority), row.priority)
        candidates = []
        for target, row in newest.items():
            if row.target_key is not None:
                found = refs.get(row.target_key)
                if found is None or found.status in (STATUS_FAILED, STATUS_SUPERSEDED):
                    failed.append((row, "target_failed" if found is not None else "target_missing"))
                    continue
            candidates.append(
                WaitingEdit(
                    target=target,
                    priority=priority[target],
                    stale_since=since[target].timestamp(),
                    ready=self._edit_ready(target, row, refs, now),
                )
            )
        chosen = []
        for edit in edit_order(candidates):
            if not pacing.update_bucket.try_take():
                pacing.note_wake(pacing.update_bucket.wait_time())
                break
            row = newest[edit.target]
            ts = row.target_ts or refs[row.target_key or ""].ts
            assert ts is not None  # ready: the message is in Slack
            chosen.append((row, edit.target, ts))
        return chosen, stale

    def _edit_ready(self, target: str, row: Waiting, targets: dict[str, Parent], now: datetime) -> bool:
        """Whether the edit may go now (noting when to look again if not)."""
        if not self._due(row, now):
            return False
        left = self._pacing.edit_interval_left(target)
        if left > 0:
            self._pacing.note_wake(left)
            return False
        if row.target_key is not None:
            found = targets.get(row.target_key)
            if found is None or found.status != STATUS_SENT or found.ts is None:
                self._pacing.note_wake(self._idle)
                return False  # the message is not in Slack yet
        return True

    def _due(self, row: Waiting, now: datetime) -> bool:
        """Whether ``row``'s next attempt is due (noting when it will be if not)."""
        if row.next_attempt_at > now:
            self._pacing.note_wake((row.next_attempt_at - now).total_seconds())
            return False
        return True


def thread_of(row: Waiting) -> str:
    """The queue a post waits in: its thread (by root ts or key), or the channel's top level.

    A top-level notice (a post with a priority, such as a channel board) follows no other
    message, so it waits in a queue of its own instead of behind the channel's cards.
    """
    if row.thread_ts is not None:
        return f"ts:{row.thread_ts}"
    if row.parent_key is not None:
        return f"key:{row.parent_key}"
    if row.priority > PRIORITY_NORMAL:
        return f"{TOP_LEVEL}:{row.key}"
    return TOP_LEVEL


def parent_ts(row: Waiting, parents: dict[str, Parent]) -> tuple[str | None, str | None]:
    """(the thread ts to post under, or a reason to fail the row) for a post about to go."""
    if row.parent_key is None:
        return row.thread_ts, None
    parent = parents.get(row.parent_key)
    if parent is None:
        return None, "parent_missing"
    if parent.status in (STATUS_FAILED, STATUS_SUPERSEDED) or parent.ts is None:
        return None, "parent_failed"
    return parent.ts, None
