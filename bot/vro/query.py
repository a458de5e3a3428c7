"""Filter and sort expressions for VRO collections (``filter=`` / ``sort=`` query parameters).

VRO takes both as JSON arrays in one query parameter each::

    filter=[{"property":"planType","operator":"==","value":"Restore"}]
    sort=[{"property":"name","direction":"ASC"}]

Build them with :class:`F` and :class:`Sort`::

    (F("planType") == "Replica") & F("name").like("SAP*")
    F("state").in_(["Ready", "Halted"]) | (F("planMode") != "Disabled")
    Sort.asc("name")

``&&`` / ``||`` carry their operands as an array of nested expressions in ``value`` and ``in``
takes an array ``value`` (the documented operators; the operand layout is our best reading of
the docs, see vro-api-notes.md §6.3).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final


class Operator(StrEnum):
    """Operators of VRO's ``Expression``."""

    EQ = "=="
    NE = "!="
    GT = ">"
    LT = "<"
    IN = "in"
    AND = "&&"
    OR = "||"
    LIKE = "like"


class Direction(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


def _wire_value(value: Any) -> Any:
    """A filter operand as VRO expects it: datetimes as ISO 8601 strings, the rest as JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_wire_value(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(
        f"a VRO filter value must be a string, number, bool, datetime or list, not {type(value).__name__}"
    )


@dataclass(frozen=True, slots=True)
class Expression:
    """One VRO filter ``Expression``; combine with ``&`` (``&&``) and ``|`` (``||``)."""

    property: str
    operator: Operator
    value: Any

    def to_json(self) -> dict[str, Any]:
        """The expression as VRO's JSON object."""
        if self.operator in (Operator.AND, Operator.OR):
            value: Any = [operand.to_json() for operand in self.value]
        else:
            value = _wire_value(self.value)
        return {"property": self.property, "operator": str(self.operator), "value": value}

    def _combine(self, other: Expression, operator: Operator) -> Expression:
        if not isinstance(other, Expression):
            return NotImplemented
        operands: list[Expression] = []
        for side in (self, other):
            # a && (b && c) is one && over three operands: flatter JSON, same meaning.
            if side.operator is operator and side.property == "":
                operands.extend(side.value)
            else:
                operands.append(side)
        return Expression("", operator, tuple(operands))

    def __and__(self, other: Expression) -> Expression:
        return self._combine(other, Operator.AND)

    def __or__(self, other: Expression) -> Expression:
        return self._combine(other, Operator.OR)


class F:
    """A property of a VRO resource to filter on, e.g. ``F("name") == "SAP Tier1"``.

    Nested properties use VRO's dotted form: ``F("schedule.type")``.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not name:
            raise ValueError("a filter property needs a name")
        self.name = name

    def __eq__(self, value: object) -> Expression:  # type: ignore[override]
        return Expression(self.name, Operator.EQ, value)

    def __ne__(self, value: object) -> Expression:  # type: ignore[override]
        return Expression(self.name, Operator.NE, value)

    def __gt__(self, value: object) -> Expression:
        return Expression(self.name, Operator.GT, value)

    def __lt__(self, value: object) -> Expression:
        return Expression(self.name, Operator.LT, value)

    __hash__ = None  # type: ignore[assignment]

    def in_(self, values: Iterable[Any]) -> Expression:
        """Matches any of ``values``."""
        return Expression(self.name, Operator.IN, list(values))

    def like(self, pattern: str) -> Expression:
        """Pattern match on a string property (``*`` wildcard)."""
        return Expression(self.name, Operator.LIKE, pattern)

    def __repr__(self) -> str:
        return f"F({self.name!r})"


@dataclass(frozen=True, slots=True)
class Sort:
    """One VRO ``SortQuery``."""

    property: str
    direction: Direction = Direction.ASC

    @classmethod
    def asc(cls, name: str) -> Sort:
        return cls(name, Direction.ASC)

    @classmethod
    def desc(cls, name: str) -> Sort:
        return cls(name, Direction.DESC)

    def to_json(self) -> dict[str, str]:
        return {"property": self.property, "direction": str(self.direction)}


FilterArg = Expression | Sequence[Expression] | None
SortArg = Sort | Sequence[Sort] | None

_COMPACT: Final = (",", ":")


def encode_filter(filter: FilterArg) -> str | None:
    """The ``filter`` query value: a JSON array of expressions (several are ANDed by VRO)."""
    if filter is None:
        return None
    expressions = [filter] if isinstance(filter, Expression) else list(filter)
    if not expressions:
        return None
    return json.dumps([e.to_json() for e in expressions], separators=_COMPACT)


def encode_sort(sort: SortArg) -> str | None:
    """The ``sort`` query value: a JSON array of sort keys, most significant first."""
    if sort is None:
        return None
    keys = [sort] if isinstance(sort, Sort) else list(sort)
    if not keys:
        return None
    return json.dumps([k.to_json() for k in keys], separators=_COMPACT)
