"""Turning a name someone typed into one VRO object, or a helpful answer when it can't be done.

The rules (DESIGN §4), the same for plans, recovery locations, groups, VMs and steps:

1. an id (compared case-insensitively; braces around a GUID are ignored);
2. an exact name, case-insensitive and ignoring repeated spaces: "SAP Tier1" is that plan even
   when "SAP Tier1 DR Test" exists;
3. otherwise a name that starts with what was typed, if only one does;
4. several matches: the candidates; none: the nearest names.

Everything here is pure: it works on any sequence of objects with ``id`` and ``name`` (every VRO
model qualifies, and so does :class:`Candidate`).
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Generic, NamedTuple, Protocol, TypeVar

MAX_SHOWN: Final = 5


class Named(Protocol):
    """Anything with an id and a name."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class Candidate(NamedTuple):
    """A plain (id, name) pair, for callers that have no richer object."""

    id: str
    name: str


T = TypeVar("T", bound=Named)


@dataclass(frozen=True)
class Found(Generic[T]):
    """Exactly one match."""

    item: T
    how: str  # "id", "name" or "prefix"


@dataclass(frozen=True)
class Ambiguous(Generic[T]):
    """More than one match; ``candidates`` are all of them, in name order."""

    query: str
    kind: str
    candidates: tuple[T, ...]

    @property
    def message(self) -> str:
        shown = ", ".join(_label(c, self.candidates) for c in self.candidates[:MAX_SHOWN])
        more = f" and {len(self.candidates) - MAX_SHOWN} more" if len(self.candidates) > MAX_SHOWN else ""
        return (
            f"“{_clip(self.query)}” matches {len(self.candidates)} {self.kind}s: {shown}{more}. "
            f"Give more of the name (in quotes if it has spaces) or the id."
        )


@dataclass(frozen=True)
class NotFound(Generic[T]):
    """No match; ``nearest`` are the closest names (possibly none)."""

    query: str
    kind: str
    nearest: tuple[T, ...]

    @property
    def message(self) -> str:
        if not self.nearest:
            return f"There is no {self.kind} named “{_clip(self.query)}”."
        shown = ", ".join(f"“{c.name}”" for c in self.nearest)
        return f"There is no {self.kind} named “{_clip(self.query)}”. Did you mean {shown}?"


Resolution = Found[T] | Ambiguous[T] | NotFound[T]


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(item: Named, among: Sequence[Named]) -> str:
    """The name, plus the id when the name alone would not tell the candidates apart."""
    key = _key(item.name)
    if sum(1 for other in among if _key(other.name) == key) > 1:
        return f"“{item.name}” (id {item.id})"
    return f"“{item.name}”"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _id_key(text: str) -> str:
    return text.strip().strip("{}").casefold()


def resolve(query: str, items: Sequence[T], *, kind: str = "plan") -> Found[T] | Ambiguous[T] | NotFound[T]:
    """Find the one item ``query`` names, following the module's rules. ``kind`` names it in messages."""
    wanted_id = _id_key(query)
    by_id = [item for item in items if _id_key(item.id) == wanted_id]
    if len(by_id) == 1:
        return Found(by_id[0], "id")
    wanted = _key(query)
    exact = [item for item in items if _key(item.name) == wanted]
    if len(exact) == 1:
        return Found(exact[0], "name")
    if len(exact) > 1:
        return Ambiguous(query, kind, _sorted(exact))
    prefixed = [item for item in items if _key(item.name).startswith(wanted)] if wanted else []
    if len(prefixed) == 1:
        return Found(prefixed[0], "prefix")
    if len(prefixed) > 1:
        return Ambiguous(query, kind, _sorted(prefixed))
    return NotFound(query, kind, nearest(query, items))


def _folded(text: str) -> str:
    """:func:`_key` without accents: "Zürich" and "zurich" are look-alikes for suggestions."""
    decomposed = unicodedata.normalize("NFKD", _key(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def nearest(query: str, items: Sequence[T], *, limit: int = MAX_SHOWN) -> tuple[T, ...]:
    """The items whose names are closest to ``query``: names containing it first, then look-alikes.

    Accents are set aside here (only here: a name still resolves exactly as it is written), so
    someone who types ``zurich`` on an English keyboard is offered "Zürich Büro".
    """
    wanted = _folded(query)
    if not wanted:
        return ()
    by_key: dict[str, T] = {}
    for item in items:
        by_key.setdefault(_folded(item.name), item)
    containing = sorted((k for k in by_key if wanted in k), key=lambda k: (len(k), k))
    similar = difflib.get_close_matches(wanted, list(by_key), n=limit, cutoff=0.6)
    ordered = list(dict.fromkeys([*containing, *similar]))[:limit]
    return tuple(by_key[k] for k in ordered)


def _sorted(items: Sequence[T]) -> tuple[T, ...]:
    return tuple(sorted(items, key=lambda item: (_key(item.name), item.id)))
