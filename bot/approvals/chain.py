"""The audit log's hash chain (pure: values in, hashes and findings out).

Each audit row carries ``prev_hash`` (the hash of the row before it; :data:`GENESIS` for the
first) and ``hash = sha256(prev_hash + "\\n" + canonical content)``. The content is every column
of the row except ``id``, ``prev_hash`` and ``hash``, leaving out NULLs (so a column added later
does not change the hashes of older rows), as sorted compact JSON with timestamps in UTC.

Changing any row changes its hash; deleting a row breaks the link of the next one; moving rows
around breaks links too. :class:`ChainVerifier` walks the rows in ``id`` order and names the
first row that does not fit, and the kind of damage. The chain's head (the last row's id and
hash) is kept in the ``audit_head`` row as well, so removing rows from the end shows too.

What this cannot catch on its own: someone with write access to the database recomputing every
hash after an edit. Keep the head published elsewhere (``vro-bot audit export`` prints it, and
``/metrics`` exposes it): an old head that is no longer in the chain proves a rewrite.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64
UNHASHED_COLUMNS = frozenset({"id", "prev_hash", "hash"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(content: Mapping[str, Any]) -> str:
    """The row's content as the text that is hashed."""
    kept = {
        key: _plain(value)
        for key, value in content.items()
        if key not in UNHASHED_COLUMNS and value is not None
    }
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def link(prev_hash: str, content: Mapping[str, Any]) -> str:
    """The hash of a row with this content following a row whose hash is ``prev_hash``."""
    return hashlib.sha256(f"{prev_hash}\n{canonical(content)}".encode()).hexdigest()


class Damage(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    UNSEALED = "unsealed"


@dataclass(frozen=True, slots=True)
class Finding:
    """The first row that does not fit, and why (a sentence for the operator)."""

    row_id: int
    damage: Damage
    message: str


@dataclass(frozen=True, slots=True)
class Head:
    """The end of the chain: the last row's id and hash, and how many rows lead to it."""

    row_id: int | None
    hash: str
    rows: int


class ChainVerifier:
    """Feed rows in ``id`` order; the first problem is kept in :attr:`finding`.

    ``find_hash`` answers which row (if any) has a given hash; it is asked only when a link is
    broken, to tell a reordering (the expected predecessor exists elsewhere) from a deletion.
    A verifier can be resumed from a verified :class:`Head` to check only newer rows.
    """

    def __init__(self, *, find_hash: Callable[[str], int | None], start: Head | None = None) -> None:
        self._find = find_hash
        self._prev_hash = start.hash if start else GENESIS
        self._prev_id = start.row_id if start else None
        self._rows = start.rows if start else 0
        self.finding: Finding | None = None

    @property
    def head(self) -> Head:
        """The last row verified so far."""
        return Head(row_id=self._prev_id, hash=self._prev_hash, rows=self._rows)

    def feed(
        self, row_id: int, prev_hash: str | None, row_hash: str | None, content: Mapping[str, Any]
    ) -> bool:
        """Check one row; False (and :attr:`finding` set) at the first problem."""
        if self.finding is not None:
            return False
        after = f"row {self._prev_id}" if self._prev_id is not None else "the start of the log"
        if row_hash is None or prev_hash is None:
            return self._fail(
                row_id, Damage.UNSEALED, f"row {row_id} has no hash: it was written around the chain"
            )
        if link(prev_hash, content) != row_hash:
            return self._fail(
                row_id, Damage.EDITED, f"row {row_id} was edited: its content no longer matches its hash"
            )
        if prev_hash != self._prev_hash:
            elsewhere = self._find(prev_hash)
            if elsewhere is not None and elsewhere != self._prev_id:
                return self._fail(
                    row_id,
                    Damage.REORDERED,
                    f"row {row_id} is out of order: it follows row {elsewhere} in the chain, not {after}",
                )
            return self._fail(
                row_id,
                Damage.DELETED,
                f"a row was deleted between {after} and row {row_id}: row {row_id} links to a row that is gone",
            )
        self._prev_hash = row_hash
        self._prev_id = row_id
        self._rows += 1
        return True

    def finish(self, recorded: Head | None) -> bool:
        """Compare the end reached with the head recorded in ``audit_head``; False on a mismatch."""
        if self.finding is not None:
            return False
        if recorded is None or (recorded.hash == self._prev_hash and recorded.rows == self._rows):
            return True
        last = f"row {self._prev_id}" if self._prev_id is not None else "the start"
        if self._find(recorded.hash) is not None:
            where = (recorded.row_id or 0) + 1
            return self._fail(
                where,
                Damage.UNSEALED,
                f"the log goes on past its recorded head (row {recorded.row_id}): "
                f"rows after it were written around the chain",
            )
        first_gone = (self._prev_id or 0) + 1
        return self._fail(
            first_gone,
            Damage.DELETED,
            f"rows after {last} were deleted: the chain's head says {recorded.rows} rows ending at row "
            f"{recorded.row_id}, the log has {self._rows}",
        )

    def _fail(self, row_id: int, damage: Damage, message: str) -> bool:
        self.finding = Finding(row_id=row_id, damage=damage, message=message)
        return False
