"""Keeping each busy channel's board current (the I/O around :mod:`bot.watcher.board`).

Every few seconds the watcher's loop calls :meth:`ChannelBoards.refresh`: a channel with
``min_runs`` active runs gets a board (one post, queued ahead of the channel's other posts),
an open board is redrawn when one of its lines changed (one edit, queued ahead of the cards),
and a board whose runs all ended gets its last redraw and closes. Everything goes through the
outbox, in the transaction that records the board's new revision: two replicas redrawing at
once are told apart by that revision, and the loser writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import reading
from bot.outbox.store import enqueue_post, enqueue_update, refresh_pending_update
from bot.outbox.tables import PRIORITY_BOARD, PRIORITY_NOTICE
from bot.slack.message import Message
from bot.watcher.board import BoardRun, Tally, board_message, should_open
from bot.watcher.tables import STATUS_ACTIVE, STATUS_SENDING, Board, Watch

log = logging.getLogger(__name__)


def board_key(channel: str, first_watch_id: int) -> str:
    """The outbox key of a board's message: the channel and the first run it listed."""
    return f"board:{channel}:{first_watch_id}"


class ChannelBoards:
    """Opens, redraws and closes the boards of busy channels."""

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession], min_runs: int) -> None:
        self._sessions = session_factory
        self.min_runs = min_runs
        self.edits = 0  # boards posted or redrawn by this process (tests, benches)

    async def refresh(self, now: datetime) -> bool:
        """Bring every board up to date; True when something was queued for Slack."""
        if self.min_runs <= 0:
            return False
        async with reading(self._sessions) as session:
            active = await session.execute(
                select(Watch.channel, func.count(), func.min(Watch.id))
                .where(Watch.status == STATUS_ACTIVE)
                .group_by(Watch.channel)
            )
            busy = {channel: (int(count), int(first)) for channel, count, first in active.tuples()}
            open_boards = {
                board.channel: board
                for board in (await session.scalars(select(Board).where(Board.closed_at.is_(None)))).all()
            }
        wrote = False
        for channel in sorted(busy.keys() | open_boards.keys()):
            board = open_boards.get(channel)
            count, first = busy.get(channel, (0, 0))
            if board is None and not should_open(count, self.min_runs):
                continue
            try:
                wrote = await self._redraw(channel, board, first, now) or wrote
            except IntegrityError:
                # Another replica opened this channel's board at the same moment: it is theirs.
                log.debug("board of %s opened elsewhere", channel)
        return wrote

    async def _redraw(self, channel: str, board: Board | None, first: int, now: datetime) -> bool:
        async with self._sessions() as session, session.begin():
            if board is None:
                board = Board(channel=channel, key=board_key(channel, first), opened_at=now, rev=0, digest="")
                session.add(board)
                await session.flush()
            runs = await self._runs(session, channel, board.opened_at)
            if not runs:
                return False
            message = board_message(runs)
            digest = _digest(message)
            if digest == board.digest:
                return False
            closing = not any(run.active for run in runs)
            rev, key = board.rev, board.key
            result = await session.execute(
                update(Board)
                .where(Board.id == board.id, Board.rev == rev, Board.closed_at.is_(None))
                .values(rev=rev + 1, digest=digest, closed_at=now if closing else None)
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                await session.rollback()  # redrawn or closed by another replica meanwhile
                return False
            if rev == 0:
                await enqueue_post(
                    session,
                    key=key,
                    channel=channel,
                    message=message,
                    now=now,
                    priority=PRIORITY_NOTICE,
                )
            elif not await refresh_pending_update(
                session, channel=channel, target_key=key, message=message, priority=PRIORITY_BOARD
            ):
                await enqueue_update(
                    session,
                    key=f"{key}:{rev + 1}",
                    channel=channel,
                    message=message,
                    now=now,
                    target_key=key,
                    priority=PRIORITY_BOARD,
                )
        self.edits += 1
        return True

    @staticmethod
    async def _runs(session: AsyncSession, channel: str, opened_at: datetime) -> list[BoardRun]:
        """The board's runs: those narrated in ``channel`` now, and those that ended since it opened."""
        rows = await session.execute(
            select(Watch.id, Watch.plan_name, Watch.action, Watch.status, Watch.tally, Watch.vro_unreachable)
            .where(
                Watch.channel == channel,
                Watch.status != STATUS_SENDING,
                or_(Watch.status == STATUS_ACTIVE, Watch.finished_at >= opened_at),
            )
            .order_by(Watch.id)
        )
        return [
            BoardRun(
                watch_id=watch_id,
                plan_name=plan_name,
                action=action,
                status=status,
                tally=Tally.from_json(tally),
                vro_unreachable=bool(unreachable),
            )
            for watch_id, plan_name, action, status, tally, unreachable in rows.tuples()
        ]


def _digest(message: Message) -> str:
    return hashlib.sha256(json.dumps(message.payload(), sort_keys=True).encode()).hexdigest()
