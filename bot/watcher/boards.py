"""Keeping each busy channel's board current (the I/O around :mod:`bot.watcher.board`).

Every few seconds the watcher's loop calls :meth:`ChannelBoards.refresh`: a channel with
``min_runs`` active runs gets a board (one post, queued ahead of the channel's other posts),
an open board is redrawn when one of its lines changed (one edit, queued ahead of the cards),
and a board whose runs all ended gets its last redraw and closes. Everything goes through the
outbox, in the transaction that records the board's new revision: two replicas redrawing at
once are told apart by that revision, and the loser writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import reading
from bot.outbox.store import enqueue_post, queue_edit
from bot.outbox.tables import PRIORITY_BOARD, PRIORITY_NOTICE
from bot.slack.message import Message
from bot.watcher.board import BoardRun, Tally, board_message, should_open
from bot.watcher.tables import STATUS_ACTIVE, STATUS_SENDING, Board, Watch

log = logging.getLogger(__name__)


def board_key(channel: str, first_watch_id: int) -> str:
    """The outbox key of a board's message: the channel and the first run it listed."""
    return f"board:{channel}:{first_watch_id}"


@dataclass(frozen=True)
class _Draft:
    """A board to open or redraw: what it would show now."""

    channel: str
    board: Board | None
    first: int  # the first active watch in the channel (names a new board)
    message: Message
    closing: bool  # none of its runs is active: the last redraw


class ChannelBoards:
    """Opens, redraws and closes the boards of busy channels."""

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession], min_runs: int) -> None:
        self._sessions = session_factory
        self.min_runs = min_runs
        self.edits = 0  # boards posted or redrawn by this process (tests, benches)

    async def refresh(self, now: datetime) -> bool:
        """Bring every board up to date; True when something was queued for Slack.

        What each board would show is read without a write lock; only a board that changed (or
        opens) costs a write transaction.
        """
        if self.min_runs <= 0:
            return False
        drafts: list[_Draft] = []
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
            for channel in sorted(busy.keys() | open_boards.keys()):
                board = open_boards.get(channel)
                count, first = busy.get(channel, (0, 0))
                if board is None and not should_open(count, self.min_runs):
                    continue
                runs = await self._runs(session, channel, now if board is None else board.opened_at)
                if not runs:
                    continue
                message = board_message(runs)
                if board is None or message.digest() != board.digest:
                    closing = not any(run.active for run in runs)
                    drafts.append(_Draft(channel, board, first, message, closing))
        wrote = False
        for draft in drafts:
            try:
                wrote = await self._write(draft, now) or wrote
            except IntegrityError:
                # Another replica opened this channel's board at the same moment: it is theirs.
                log.debug("board of %s opened elsewhere", draft.channel)
        return wrote

    async def _write(self, draft: _Draft, now: datetime) -> bool:
        """Open the board or queue its redraw, unless another replica changed it meanwhile."""
        channel, message = draft.channel, draft.message
        async with self._sessions() as session, session.begin():
            board = draft.board
            if board is None:
                board = Board(
                    channel=channel, key=board_key(channel, draft.first), opened_at=now, rev=0, digest=""
                )
                session.add(board)
                await session.flush()
            rev, key = board.rev, board.key
            result = await session.execute(
                update(Board)
                .where(Board.id == board.id, Board.rev == rev, Board.closed_at.is_(None))
                .values(rev=rev + 1, digest=message.digest(), closed_at=now if draft.closing else None)
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                await session.rollback()  # redrawn or closed by another replica meanwhile
                return False
            if rev == 0:
                await enqueue_post(
                    session, key=key, channel=channel, message=message, now=now, priority=PRIORITY_NOTICE
                )
            else:
                await queue_edit(
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
