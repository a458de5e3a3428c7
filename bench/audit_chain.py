"""The audit chain's cost: appends from two replicas at once, and a full ``audit verify``.

    .venv/bin/python -m bench.audit_chain [--rows 4000] [--writers 8] [--postgres URL]

Two engines (two replicas) each run ``--writers / 2`` writers; every transaction adds two audit
rows, sealed at commit under the ``audit_head`` lock. Prints appended rows per second, then the
rows per second of a full verification, and checks the chain is intact (no forks).
Without ``--postgres`` it runs on a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.approvals.tables import AuditEntry
from bot.approvals.verify import verify_database
from bot.clock import SystemClock
from bot.db import create_engine, session_factory
from bot.migrate import upgrade


async def _append(url: str, *, rows: int, writers: int) -> float:
    clock = SystemClock()
    engines = [create_engine(url) for _ in range(2)]
    per_writer = max(1, rows // (writers * 2))
    try:
        factories = [session_factory(engine) for engine in engines]

        async def write(index: int) -> None:
            sessions = factories[index % 2]
            for i in range(per_writer):
                async with sessions.begin() as session:
                    for part in range(2):
                        session.add(
                            AuditEntry(
                                at=clock.now(),
                                actor=f"replica-{index % 2}",
                                event="approval",
                                detail={"writer": index, "i": i, "part": part},
                            )
                        )

        started = time.perf_counter()
        await asyncio.gather(*(write(w) for w in range(writers)))
        return time.perf_counter() - started
    finally:
        for engine in engines:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--postgres", default=None, help="a database URL to use instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        seconds = asyncio.run(_append(url, rows=args.rows, writers=args.writers))
        started = time.perf_counter()
        report = verify_database(url)
        verify_seconds = time.perf_counter() - started
    rows = report.verified.rows
    print(f"backend: {'postgresql' if args.postgres else 'sqlite'}, writers: {args.writers} on 2 engines")
    print(f"appended {rows} rows in {seconds:.2f} s: {rows / seconds:.0f} rows/s")
    print(f"verified {rows} rows in {verify_seconds:.2f} s: {rows / verify_seconds:.0f} rows/s")
    print(f"chain intact: {report.ok}" + (f" ({report.finding.message})" if report.finding else ""))


if __name__ == "__main__":
    main()
