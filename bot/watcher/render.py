"""Block Kit for the watcher: the status card, the batched thread messages, the summary (pure).

Data in, :class:`~bot.slack.message.Message` out; no I/O, no clock (``now`` is a parameter).
One module a job, their names importable from here:

* :mod:`~bot.watcher.card`: the status card, updated in place;
* :mod:`~bot.watcher.thread_lines`: the run's events as compact thread lines, a halt's buttons;
* :mod:`~bot.watcher.summary`: the summary when the run ends;
* :mod:`~bot.watcher.counts` (groups, VMs, steps done) and :mod:`~bot.watcher.watch_info`
  (who and what a watch is about), which they share.
"""

from __future__ import annotations

from bot.watcher.card import PROGRESS_CELLS, TEXT_WAITING, status_card
from bot.watcher.counts import Counts, run_counts
from bot.watcher.summary import summary_messages
from bot.watcher.thread_lines import (
    CONTINUE_LABELS,
    GROUP_MARK,
    ITEM_KINDS,
    STEP_MARK,
    TEXT_BACK,
    TEXT_RESET,
    TEXT_STOPPED,
    TEXT_UNREACHABLE,
    halt_blocks,
    thread_messages,
)
from bot.watcher.watch_info import MAX_FALLBACK_CHARS, WatchInfo, action_title, people_line

__all__ = [
    "CONTINUE_LABELS",
    "GROUP_MARK",
    "ITEM_KINDS",
    "MAX_FALLBACK_CHARS",
    "PROGRESS_CELLS",
    "STEP_MARK",
    "TEXT_BACK",
    "TEXT_RESET",
    "TEXT_STOPPED",
    "TEXT_UNREACHABLE",
    "TEXT_WAITING",
    "Counts",
    "WatchInfo",
    "action_title",
    "halt_blocks",
    "people_line",
    "run_counts",
    "status_card",
    "summary_messages",
    "thread_messages",
]
