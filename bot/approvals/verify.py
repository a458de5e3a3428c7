"""``vro-bot audit verify`` and the ``/metrics`` view of the audit chain.

Both walk the audit log in id order through :class:`~bot.approvals.chain.ChainVerifier`, a batch
at a time (keyset paging, so memory stays flat). :func:`verify_audit` is the command: synchronous,
its own short-lived engine, exit code 0 (intact) or 1 (naming the first bad row).
:class:`ChainMonitor` is for the running bot: it resumes from the head it verified last, so a
scrape checks only the rows added since, and walks the whole chain again every so often.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, pool, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.approvals.chain import ChainVerifier, Finding, Head
from bot.approvals.tables import AuditEntry, AuditHead
from bot.clock import Clock
from bot.db import is_sqlite, sync_url
from bot.migrate import database_revision

BATCH = 1000
FULL_PASS_SECONDS = 600.0
ROWS_PER_CHECK = 20_000  # a scrape's share of a walk (about a few seconds at most)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of a walk: the head verified, the recorded head, the first problem if any."""

    verified: Head
    recorded: Head | None
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None


class VerifyError(Exception):
    """The check cannot run (no database, no schema); the message says what to do."""


def verify_audit(database_url: str) -> int:
    """The command: 0 when the chain is intact, 1 when it is broken or cannot be read."""
    try:
        report = verify_database(database_url)
    except VerifyError as exc:
        sys.stderr.write(f"vro-bot: {exc}\n")
        return 1
    head = report.verified
    if report.ok:
        where = f"row {head.row_id}" if head.row_id is not None else "no rows yet"
        sys.stdout.write(f"Audit chain intact: {head.rows} rows, head {where}, hash {head.hash}.\n")
        return 0
    assert report.finding is not None
    finding = report.finding
    sys.stderr.write(f"Audit chain BROKEN at row {finding.row_id}: {finding.message}.\n")
    sys.stderr.write(f"Intact before it: {head.rows} rows, last good row {head.row_id}, hash {head.hash}.\n")
    return 1


def verify_database(database_url: str) -> ChainReport:
    """Walk the whole chain of the database at ``database_url``."""
    if is_sqlite(database_url):
        path = make_url(sync_url(database_url)).database
        if path and path != ":memory:" and not Path(path).exists():
            raise VerifyError(f"there is no database at {path}. Check DATABASE_URL.")
    if database_revision(database_url) is None:
        raise VerifyError(
            "the database has no schema yet, so there is no audit log. Run `vro-bot db upgrade`."
        )
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        return verify_engine(engine)
    finally:
        engine.dispose()


def verify_engine(engine: Engine) -> ChainReport:
    """Walk the whole chain with a synchronous engine, up to the head recorded when it starts.

    Rows appended meanwhile (after that head) are left for the next check, so a live bot
    writing during the walk is never mistaken for tampering.
    """
    with Session(engine) as session, session.begin():
        recorded = read_head_sync(session)

        def find(digest: str) -> int | None:
            return session.scalar(select(AuditEntry.id).where(AuditEntry.hash == digest))

        verifier = ChainVerifier(find_hash=find)
        upto = recorded.row_id if recorded is not None else None
        after = 0
        while True:
            batch = _batch_sync(session, after, upto)
            if not batch:
                break
            if not _feed(verifier, batch):
                break
            after = batch[-1].id
        verifier.finish(recorded)
        return ChainReport(verified=verifier.head, recorded=recorded, finding=verifier.finding)


def read_head_sync(session: Session) -> Head | None:
    row = session.execute(select(AuditHead.last_id, AuditHead.hash, AuditHead.row_count)).one_or_none()
    return Head(row_id=row.last_id, hash=row.hash, rows=row.row_count) if row else None


def _batch_sync(session: Session, after: int, upto: int | None = None) -> Sequence[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(BATCH)
    if upto is not None:
        query = query.where(AuditEntry.id <= upto)
    rows = session.scalars(query).all()
    session.expunge_all()
    return rows


def _feed(verifier: ChainVerifier, batch: Sequence[AuditEntry]) -> bool:
    return all(verifier.feed(e.id, e.prev_hash, e.hash, e.content()) for e in batch)


class ChainMonitor:
    """The running bot's view of the chain, for ``/metrics``.

    Each :meth:`check` walks at most ``rows_per_check`` rows, so a scrape stays short however
    long the log is: normally only the rows added since the last verified head; every
    ``full_pass_seconds`` (and after a finding) a walk from the first row, spread over as many
    checks as it takes. The last completed walk is what :attr:`last` reports.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        full_pass_seconds: float = FULL_PASS_SECONDS,
        rows_per_check: int = ROWS_PER_CHECK,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._full_every = full_pass_seconds
        self._budget = rows_per_check
        self._verified: Head | None = None  # the end of the last walk that found nothing
        self._next_full = 0.0
        self._walk: Head | None = None  # where the walk in progress has got to
        self._walking = False
        self.last: ChainReport | None = None

    async def check(self) -> ChainReport:
        """Advance the walk; the report of the last completed walk (this one, if it completed)."""
        if not self._walking:
            now = self._clock.monotonic()
            full = (
                self._verified is None
                or now >= self._next_full
                or (self.last is not None and not self.last.ok)
            )
            if full:
                self._next_full = now + self._full_every
            self._walk = None if full else self._verified
            self._walking = True
        async with self._sessions() as session, session.begin():
            row = (
                await session.execute(select(AuditHead.last_id, AuditHead.hash, AuditHead.row_count))
            ).one_or_none()
            recorded = Head(row_id=row.last_id, hash=row.hash, rows=row.row_count) if row else None
            upto = recorded.row_id if recorded is not None else None
            found: dict[str, int | None] = {}
            verifier = ChainVerifier(find_hash=lambda digest: found.get(digest), start=self._walk)

            async def look_up(digest: str) -> None:
                # Only for a broken link: which row (if any) holds the hash it points to.
                found[digest] = await session.scalar(select(AuditEntry.id).where(AuditEntry.hash == digest))

            after = (self._walk.row_id or 0) if self._walk else 0
            walked, intact, more = 0, True, True
            while intact and walked < self._budget:
                query = select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id)
                if upto is not None:
                    query = query.where(AuditEntry.id <= upto)
                batch = (await session.scalars(query.limit(min(BATCH, self._budget - walked)))).all()
                if not batch:
                    more = False
                    break
                for entry in batch:
                    if entry.prev_hash is not None and entry.prev_hash != verifier.head.hash:
                        await look_up(entry.prev_hash)
                    if not verifier.feed(entry.id, entry.prev_hash, entry.hash, entry.content()):
                        intact = False
                        break
                walked += len(batch)
                after = batch[-1].id
            if intact and more:
                self._walk = verifier.head  # not at the head yet: the next check goes on from here
                return self.last or ChainReport(verified=verifier.head, recorded=recorded, finding=None)
            if intact and recorded is not None and recorded.hash != verifier.head.hash:
                await look_up(recorded.hash)
            verifier.finish(recorded)
        self._walking = False
        report = ChainReport(verified=verifier.head, recorded=recorded, finding=verifier.finding)
        if report.ok:
            self._verified = report.verified
        self.last = report
        return report


def iter_batches(session: Session, after: int = 0) -> Iterator[Sequence[AuditEntry]]:
    """The audit rows after id ``after``, a batch at a time (for exports)."""
    while True:
        batch = _batch_sync(session, after)
        if not batch:
            return
        yield batch
        after = batch[-1].id
