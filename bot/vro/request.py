"""What one VRO request is, before anything is sent: its path, its words, its paging parameters.

Pure: :class:`Op` names a request (method, URL-quoted path segments after ``/api/{version}/``)
together with the words that explain its failure to a Slack user; :class:`PageQuery` is the
paging / filter / sort keywords every collection GET of the client takes, and
:func:`collection_params` turns them into VRO's query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import quote

from bot.vro.query import FilterArg, SortArg, encode_filter, encode_sort


@dataclass(frozen=True, slots=True)
class Op:
    """One request, with the words used to explain its failure to a Slack user."""

    method: str
    segments: tuple[str, ...]  # URL-quoted, after /api/{version}/
    target: str  # what it is about: "plan 1234", "the plans"
    action: str | None = None  # the VRO operation for POST / PUT / DELETE: "Failover"
    version: str = ""  # filled in when sent

    @property
    def label(self) -> str:
        return f"{self.action} for {self.target}" if self.action else self.target

    @property
    def path(self) -> str:
        return "/".join(["", "api", self.version, *self.segments])

    def on(self, version: str) -> Op:
        return Op(self.method, self.segments, self.target, self.action, version)


def make_op(method: str, *segments: str, target: str, action: str | None = None) -> Op:
    """An :class:`Op` on raw ids: each segment URL-quoted; an empty or relative one refused."""
    for segment in segments:
        if not segment or segment in (".", ".."):
            raise ValueError(f"an empty or relative id cannot name {target}")
    return Op(method, tuple(quote(s, safe="") for s in segments), target, action)


class PageQuery(TypedDict, total=False):
    """The keywords of every collection GET: ``start``, ``limit``, ``filter``, ``sort``."""

    start: int | None
    limit: int | None
    filter: FilterArg
    sort: SortArg


_PAGE_KEYS = frozenset(PageQuery.__annotations__)


def collection_params(query: PageQuery) -> dict[str, str]:
    """VRO's query parameters for one page; bad ``start`` / ``limit`` raise :class:`ValueError`."""
    unknown = sorted(query.keys() - _PAGE_KEYS)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    params: dict[str, str] = {}
    start = query.get("start")
    if start is not None:
        if start < 0:
            raise ValueError("start must be >= 0")
        params["start"] = str(start)
    limit = query.get("limit")
    if limit is not None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        params["limit"] = str(limit)
    encoded_filter = encode_filter(query.get("filter"))
    if encoded_filter is not None:
        params["filter"] = encoded_filter
    encoded_sort = encode_sort(query.get("sort"))
    if encoded_sort is not None:
        params["sort"] = encoded_sort
    return params
