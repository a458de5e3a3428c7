"""The watcher: follows running plans through VRO's RuntimeDetails and narrates them in Slack.

Public names::

    Watcher(session_factory=, source=, clock=, config=, owner=, plans=, on_outbox=, record_lag=)
        start_watch(plan_id, channel, *, parent_ts, request_id, action, requested_by,
                    approved_by, plan_name) -> watch id
        stop_watch(plan_id, channel, *, stopped_by) -> bool
        nudge(plan_id)          poll soon at the fast interval (after Continue / Undo)
        poll_once() -> int      one cycle over the due watches (tests drive this)
        announce_once()         announce mode: watches for plans started outside Slack
        run(stop=)              the loop; release() gives the leases back
    WatcherConfig.from_settings(settings)
    RuntimeSource, PlanLister   what the watcher needs from VRO (VroClient satisfies both)
    ACTION_CONTINUE_PREFIX, ACTION_UNDO   action ids of the halt buttons
"""

from bot.watcher.render import ACTION_CONTINUE_PREFIX, ACTION_UNDO, CONTINUE_LABELS
from bot.watcher.service import Watcher, WatcherConfig, WatcherStats
from bot.watcher.source import PlanLister, RuntimeSource

__all__ = [
    "ACTION_CONTINUE_PREFIX",
    "ACTION_UNDO",
    "CONTINUE_LABELS",
    "PlanLister",
    "RuntimeSource",
    "Watcher",
    "WatcherConfig",
    "WatcherStats",
]
