"""The watcher: follows running plans through VRO's RuntimeDetails and narrates them in Slack.

Where things are (import them from their modules; this package re-exports nothing, so importing
the pure ones does not load the database layer)::

    service.Watcher(session_factory=, source=, clock=, config=, owner=, plans=, on_outbox=, record_lag=)
        start_watch(plan_id, channel, *, parent_ts, request_id, action, requested_by,
                    approved_by, plan_name) -> watch id
        stop_watch(plan_id, channel, *, stopped_by) -> bool
        nudge(plan_id)          poll soon at the fast interval (after Continue / Undo)
        poll_once() -> int      one cycle over the due watches (tests drive this)
        announce_once()         announce mode: watches for plans started outside Slack
        run(stop=)              the loop; release() gives the leases back
    service.WatcherConfig, WatcherStats
    source.RuntimeSource, PlanLister   what the watcher needs from VRO (VroClient satisfies both)
    snapshot, diff, render  pure: RuntimeDetails -> snapshot -> events -> Block Kit
    render.ACTION_CONTINUE_PREFIX, ACTION_UNDO   action ids of the halt buttons
"""
