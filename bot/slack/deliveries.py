"""One answer per delivery: a command, click, form submission or event seen twice is carried out once.

Slack may deliver the same request again (Events API retries carry ``X-Slack-Retry-Num``;
Socket Mode redelivers an unacked envelope with ``retry_attempt``; a proxy or a client may
replay a command or a form submission). Each delivery is keyed by what
Slack made unique for it (:attr:`bot.slack.origin.Envelope.delivery_key`: the ``trigger_id``
of a command, click or submission, the ``event_id`` of an event) and the key is inserted into
``slack_deliveries`` alongside the ack; the work the request starts waits for the insert.
The primary key decides: across replicas, and for two identical deliveries arriving at the
same moment, exactly one insert wins and only that delivery is carried out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import Clock
from bot.db import Base, UtcDateTime

KEPT_FOR = timedelta(hours=1)
"""How long a key is remembered: Slack's last event retry comes about 5 minutes after the first
try, and a trigger id is only good for 3 seconds."""
RETRY_HEADER = "x-slack-retry-num"


class SlackDelivery(Base):
    """A request from Slack that is being (or was) answered."""

    __tablename__ = "slack_deliveries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


def is_retry(headers: Mapping[str, Any]) -> bool:
    """Whether Slack marked this delivery as a retry of one it sent before (attempt 1 or later;
    a Socket Mode envelope may carry ``retry_attempt: 0`` on its first delivery)."""
    value = headers.get(RETRY_HEADER)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return int(str(value)) > 0
    except ValueError:
        return False


class DeliveryLog:
    """Records deliveries under their unique key (in the database, so it holds across replicas)."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def first(self, key: str) -> bool:
        """Record ``key``; whether this is its first delivery (the insert won)."""
        try:
            async with self._sessions.begin() as session:
                await session.execute(insert(SlackDelivery).values(key=key, received_at=self._clock.now()))
        except IntegrityError:
            return False
        return True

    async def forget_old(self, *, older_than: timedelta = KEPT_FOR) -> int:
        """Drop keys older than ``older_than``; returns how many went."""
        cutoff = self._clock.now() - older_than
        async with self._sessions.begin() as session:
            result = await session.execute(delete(SlackDelivery).where(SlackDelivery.received_at < cutoff))
        return int(cast(CursorResult[Any], result).rowcount or 0)
