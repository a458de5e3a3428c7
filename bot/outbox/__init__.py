"""The outbox: Slack messages written to the database first, then sent at Slack's pace, once.

Where things are (import them from their modules; this package re-exports nothing, so the pure
scheduling policy loads without the database layer or slack_sdk)::

    store.enqueue_post(session, *, key, channel, message, now, thread_ts=None, parent_key=None,
                       broadcast=False, priority=0)
    store.enqueue_update(session, *, key, channel, message, now, target_ts=None, target_key=None)
    sender.OutboxSender(session_factory=, poster=, clock=, owner=, rate_per_second=0.95, burst=3,
                        update_interval=3.0, max_attempts=8, on_failure=, ...)
        send_due(), run(stop=), run_until_idle(), wake(), pending_count(), stats
    scheduling      pure: which thread's post goes next, which card edit next
    pacing          pure: token buckets, 429 blocks, the edit interval, when to wake
    choosing        a pass's posts and edits (scheduling over the waiting rows, within the pace)
    ledger          the sender's SQL: read waiting, claim, mark sent, release, supersede, fail
    delivery        the Slack calls (lookup before a re-post) and what their errors mean
    poster.SlackPoster (protocol), slack_poster.SlackWebPoster (slack_sdk)
    delivery.DeliveryFailure, delivery.SenderStats (both also importable from sender)
    bot.slack.message.Message(text, blocks): what every row carries
"""
