"""The outbox: Slack messages written to the database first, then sent at Slack's pace, once.

Public names::

    enqueue_post(session, *, key, channel, message, now, thread_ts=None, parent_key=None, broadcast=False)
    enqueue_update(session, *, key, channel, message, now, target_ts=None, target_key=None)
    Message(text, blocks)
    OutboxSender(session_factory=, poster=, clock=, owner=, rate_per_second=1.0, burst=3,
                 update_interval=3.0, max_attempts=8, on_failure=, ...)
        send_due(), run(stop=), run_until_idle(), wake(), pending_count(), stats
    SlackPoster (protocol), SlackWebPoster (slack_sdk AsyncWebClient), DeliveryFailure
"""

from bot.outbox.poster import PermanentError, RateLimited, SlackDeliveryError, SlackPoster, TransientError
from bot.outbox.sender import DeliveryFailure, OutboxSender, SenderStats
from bot.outbox.slack_poster import SlackWebPoster
from bot.outbox.store import Message, enqueue_post, enqueue_update

__all__ = [
    "DeliveryFailure",
    "Message",
    "OutboxSender",
    "PermanentError",
    "RateLimited",
    "SenderStats",
    "SlackDeliveryError",
    "SlackPoster",
    "SlackWebPoster",
    "TransientError",
    "enqueue_post",
    "enqueue_update",
]
