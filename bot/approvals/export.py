"""``vro-bot audit export``: the audit log as JSON lines or CSV, oldest first, with its hash chain.

Every entry carries ``prev_hash`` and ``hash``; the chain's head (the last row's id and hash, and
the number of rows) ends the JSON lines as ``{"chain_head": {...}}`` and is printed on stderr for
both formats, so it can be kept elsewhere and compared with ``vro-bot audit verify`` later.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from sqlalchemy import create_engine, pool, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bot.approvals.chain import Head
from bot.approvals.tables import AuditEntry
from bot.approvals.verify import read_head_sync
from bot.db import is_sqlite, sync_url
from bot.migrate import database_revision

FIELDS = (
    "id",
    "at",
    "actor",
    "event",
    "request_id",
    "plan_id",
    "plan_name",
    "detail",
    "prev_hash",
    "hash",
    "actor_team",
)
BATCH = 500


class ExportError(Exception):
    """The export cannot run; the message says why and what to do."""


def export_audit(
    database_url: str, *, since: datetime | None, fmt: Literal["jsonl", "csv"] | str, output: str
) -> int:
    """Write audit entries at or after ``since`` (naive means UTC) to ``output`` (``-`` = stdout).

    Returns the process exit code: 0 on success, 1 when there is nothing to read from.
    """
    try:
        count, head = _export(database_url, since=since, fmt=fmt, output=output)
    except ExportError as exc:
        sys.stderr.write(f"vro-bot: {exc}\n")
        return 1
    where = "stdout" if output == "-" else output
    sys.stderr.write(f"Exported {count} audit {'entry' if count == 1 else 'entries'} to {where}.\n")
    if head is not None and head.row_id is not None:
        sys.stderr.write(f"Chain head: row {head.row_id} of {head.rows}, hash {head.hash}.\n")
    return 0


def audit_record(entry: AuditEntry) -> dict[str, Any]:
    """One entry as plain JSON-ready data."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "event": entry.event,
        "request_id": entry.request_id,
        "plan_id": entry.plan_id,
        "plan_name": entry.plan_name,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "actor_team": entry.actor_team,
    }


def _export(database_url: str, *, since: datetime | None, fmt: str, output: str) -> tuple[int, Head | None]:
    if fmt not in ("jsonl", "csv"):
        raise ExportError(f"unknown format {fmt!r}; use jsonl or csv")
    require_schema(database_url, ExportError, nothing="there is no audit log")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    query = select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with Session(engine) as session, session.begin(), opened_output(output, ExportError) as out:
            head = read_head_sync(session)  # read first: entries written meanwhile come after it
            if head is not None and head.row_id is not None:
                query = query.where(AuditEntry.id <= head.row_id)
            entries = session.scalars(query.execution_options(yield_per=BATCH))
            if fmt == "csv":
                return _write_csv(entries, out), head
            count = _write_jsonl(entries, out)
            if head is not None:
                chain_head = {"id": head.row_id, "hash": head.hash, "rows": head.rows}
                out.write(json.dumps({"chain_head": chain_head}) + "\n")
            return count, head
    finally:
        engine.dispose()


def _write_jsonl(entries: Iterable[AuditEntry], out: TextIO) -> int:
    count = 0
    for entry in entries:
        out.write(json.dumps(audit_record(entry), ensure_ascii=False, sort_keys=False) + "\n")
        count += 1
    return count


def _write_csv(entries: Iterable[AuditEntry], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    count = 0
    for entry in entries:
        record = audit_record(entry)
        record["detail"] = json.dumps(record["detail"], ensure_ascii=False)
        writer.writerow(record)
        count += 1
    return count


def require_schema(database_url: str, error: type[Exception], *, nothing: str) -> None:
    """Raise ``error`` unless the database exists and has a schema (``nothing``: what is missing then)."""
    if is_sqlite(database_url):
        path = make_url(sync_url(database_url)).database
        if path and path != ":memory:" and not Path(path).exists():
            raise error(f"there is no database at {path}. Check DATABASE_URL.")
    if database_revision(database_url) is None:
        raise error(f"the database has no schema yet, so {nothing}. Run `vro-bot db upgrade`.")


@contextmanager
def opened_output(output: str, error: type[Exception]) -> Iterator[TextIO]:
    """``output`` opened for writing (``-`` is stdout); ``error`` says why it cannot be."""
    if output == "-":
        yield sys.stdout
        return
    try:
        handle = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise error(f"cannot write {output}: {exc.strerror or exc}") from None
    with handle:
        yield handle
