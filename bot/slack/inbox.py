"""Commands that create requests, written down before Slack gets its ack.

A ``/vro failover ...`` is acknowledged at once ("Checking the plan with VRO…") and carried out
afterwards (VRO reads, the request, its card). The command is first written to
``command_inbox``; it is marked done when the work after the ack ends, whatever its outcome. A
row still open after a restart belongs to a process that died in between: the person is told
so (through the command's ``response_url``, while Slack still accepts it) rather than left
wondering whether their request exists. It is never carried out late, by surprise.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import Clock
from bot.db import Base, UtcDateTime, before_ack

RESPONSE_URL_LIFETIME = timedelta(minutes=30)
"""Slack accepts answers on a command's ``response_url`` for this long."""
INTERRUPTED_COMMAND = (
    "I restarted while handling `/vro {text}`, so it may not have gone through. "
    "If no approval card for it is in the channel, run it again."
)
INTERRUPTED_AFTER = timedelta(seconds=60)
"""A command still open this long after it arrived was interrupted (its work takes seconds)."""


class InboxCommand(Base):
    """A command received (and acknowledged) but maybe not carried out yet."""

    __tablename__ = "command_inbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    response_url: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CommandInbox:
    """Writes commands down before the ack; finds the ones a dead process left open."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def received(
        self, *, user: str, channel: str, text: str, response_url: str | None, key: str | None = None
    ) -> str:
        """Write the command down (before the ack); its inbox id.

        ``key`` is the delivery's key (:attr:`~bot.slack.origin.Envelope.delivery_key`): a copy of
        a delivery (Slack redelivering an envelope, a replayed request) shares the first one's
        row. Only one of them is carried out (the others are held back by the delivery log), and
        the row is closed when that one ends, so a copy never leaves a row open behind it.
        """
        command_id = _inbox_id(key) if key else secrets.token_urlsafe(12)
        with before_ack():
            try:
                async with self._sessions.begin() as session:
                    session.add(
                        InboxCommand(
                            id=command_id,
                            user_id=user,
                            channel_id=channel,
                            text=text,
                            response_url=response_url,
                            received_at=self._clock.now(),
                        )
                    )
            except IntegrityError:
                if not key:
                    raise
                # A copy of a delivery written down already: the same row stands for both.
        return command_id

    async def done(self, command_id: str) -> None:
        """The work after the ack ended (whatever its outcome)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(InboxCommand)
                .where(InboxCommand.id == command_id, InboxCommand.done_at.is_(None))
                .values(done_at=self._clock.now())
            )

    async def interrupted(self, *, older_than: timedelta = INTERRUPTED_AFTER) -> list[InboxCommand]:
        """Commands left open by a process that stopped; each is returned once (and closed)."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            rows = (
                await session.scalars(
                    select(InboxCommand).where(
                        InboxCommand.done_at.is_(None), InboxCommand.received_at <= now - older_than
                    )
                )
            ).all()
            closed: list[InboxCommand] = []
            for row in rows:
                result = await session.execute(
                    update(InboxCommand)
                    .where(InboxCommand.id == row.id, InboxCommand.done_at.is_(None))
                    .values(done_at=now)
                )
                if cast(CursorResult[Any], result).rowcount == 1:
                    closed.append(row)
            # Forget what is long settled (the table stays small).
            old = now - RESPONSE_URL_LIFETIME * 2
            await session.execute(
                update(InboxCommand)
                .where(InboxCommand.received_at < old, InboxCommand.response_url.is_not(None))
                .values(response_url=None)
            )
        return closed


def _inbox_id(key: str) -> str:
    """The inbox id of a delivery: the same for every copy of it (32 characters)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]
