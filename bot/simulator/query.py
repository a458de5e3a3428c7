"""Collection queries as VRO takes them: ``filter`` and ``sort`` (JSON in the query string),
then ``start`` and ``limit``, always in that order (vro-api-notes.md §6.2–6.3).

``Expression`` = ``{"property", "operator", "value"}``. Operand conventions are the notes'
proposal (inferred): top-level expressions are ANDed; ``in`` takes an array ``value``;
``&&`` / ``||`` take nested expressions in ``value`` (or ``items``); ``like`` understands ``*``
and ``%`` wildcards, case-insensitively, and a plain value means "contains"; string equality is
case-insensitive. Anything malformed raises :class:`QueryError` (the simulator answers 400).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonObject = Mapping[str, Any]
Predicate = Callable[[JsonObject], bool]


class QueryError(ValueError):
    """A ``filter``, ``sort``, ``start`` or ``limit`` that cannot be applied."""


_MISSING = object()


def _lookup(item: JsonObject, path: str) -> Any:
    """Value at a dotted ``path`` (``schedule.type``); ``_MISSING`` when the first key is absent."""
    first, _, rest = path.partition(".")
    key = _find_key(item, first)
    if key is None:
        return _MISSING
    value: Any = item[key]
    for part in rest.split(".") if rest else ():
        if not isinstance(value, Mapping):
            return None
        sub = _find_key(value, part)
        value = value[sub] if sub is not None else None
    return value


def _find_key(item: Mapping[str, Any], name: str) -> str | None:
    if name in item:
        return name
    lowered = name.lower()
    for key in item:
        if key.lower() == lowered:
            return key
    return None


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    return value


def _coerce_like(target: Any, value: Any) -> Any:
    """Bring ``value`` to ``target``'s type where VRO's binder would ("true" -> True, "3" -> 3)."""
    if isinstance(target, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(target, int | float) and not isinstance(target, bool) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _equals(actual: Any, value: Any) -> bool:
    value = _coerce_like(actual, value)
    return bool(_norm(actual) == _norm(value))


def _compare(actual: Any, value: Any, op: str) -> bool:
    value = _coerce_like(actual, value)
    if actual is None or value is None:
        return False
    left, right = _norm(actual), _norm(value)
    numeric = (int, float)
    if isinstance(left, numeric) and isinstance(right, numeric):
        return bool(left > right) if op == ">" else bool(left < right)
    if isinstance(left, str) and isinstance(right, str):
        return left > right if op == ">" else left < right
    raise QueryError(f"operator '{op}' cannot compare {type(actual).__name__} with {type(value).__name__}")


def _like(actual: Any, pattern: Any) -> bool:
    if not isinstance(pattern, str):
        raise QueryError("operator 'like' needs a string value")
    if actual is None:
        return False
    if not isinstance(actual, str):
        raise QueryError("operator 'like' applies to string properties only")
    if "*" not in pattern and "%" not in pattern:
        return pattern.casefold() in actual.casefold()
    regex = "".join(".*" if ch in "*%" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, actual, flags=re.IGNORECASE | re.DOTALL) is not None


def _expression(raw: Any, known: frozenset[str] | None) -> Predicate:
    if not isinstance(raw, Mapping):
        raise QueryError("each filter expression must be an object with property, operator and value")
    fields = {str(k).lower(): v for k, v in raw.items()}
    op = fields.get("operator")
    if not isinstance(op, str) or not op:
        raise QueryError("a filter expression has no operator")
    op = op.strip().lower()
    value = fields.get("value")
    if op in ("&&", "||", "and", "or"):
        nested = value if value is not None else fields.get("items")
        if not isinstance(nested, list) or not nested:
            raise QueryError(f"operator '{op}' needs a non-empty array of expressions in value")
        parts = [_expression(item, known) for item in nested]
        if op in ("&&", "and"):
            return lambda item: all(part(item) for part in parts)
        return lambda item: any(part(item) for part in parts)

    prop = fields.get("property")
    if not isinstance(prop, str) or not prop:
        raise QueryError(f"a filter expression with operator '{op}' has no property")
    if known is not None and prop.split(".")[0].lower() not in known:
        raise QueryError(f"unknown property '{prop}' in filter")

    if op == "==":
        return lambda item: _equals(_value(item, prop), value)
    if op == "!=":
        return lambda item: not _equals(_value(item, prop), value)
    if op in (">", "<"):
        return lambda item: _compare(_value(item, prop), value, op)
    if op == "in":
        if not isinstance(value, list):
            raise QueryError("operator 'in' needs an array value")
        options = list(value)
        return lambda item: any(_equals(_value(item, prop), option) for option in options)
    if op == "like":
        if not isinstance(value, str):
            raise QueryError("operator 'like' needs a string value")
        return lambda item: _like(_value(item, prop), value)
    raise QueryError(f"unknown filter operator '{op}' (use ==, !=, >, <, in, &&, ||, like)")


def _value(item: JsonObject, prop: str) -> Any:
    value = _lookup(item, prop)
    return None if value is _MISSING else value


def _decode(text: str, what: str) -> list[Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QueryError(f"the {what} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise QueryError(f"the {what} must be a JSON array of objects")
    return raw


def parse_filter(text: str, *, known_properties: frozenset[str] | None = None) -> Predicate:
    """Compile a ``filter`` query value; ``known_properties`` (lower-case) catches typos."""
    parts = [_expression(raw, known_properties) for raw in _decode(text, "filter")]
    return lambda item: all(part(item) for part in parts)


@dataclass(frozen=True, slots=True)
class SortKey:
    property: str
    descending: bool


def parse_sort(text: str, *, known_properties: frozenset[str] | None = None) -> list[SortKey]:
    """Parse a ``sort`` query value into keys, most significant first."""
    keys: list[SortKey] = []
    for raw in _decode(text, "sort"):
        if not isinstance(raw, Mapping):
            raise QueryError("each sort entry must be an object with property and direction")
        fields = {str(k).lower(): v for k, v in raw.items()}
        prop = fields.get("property")
        if not isinstance(prop, str) or not prop:
            raise QueryError("a sort entry has no property")
        if known_properties is not None and prop.split(".")[0].lower() not in known_properties:
            raise QueryError(f"unknown property '{prop}' in sort")
        direction = fields.get("direction", "ASC")
        if not isinstance(direction, str) or direction.upper() not in ("ASC", "DESC"):
            raise QueryError(f"sort direction must be ASC or DESC, not {direction!r}")
        keys.append(SortKey(prop, direction.upper() == "DESC"))
    return keys


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None or value is _MISSING:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value.casefold())
    return (4, json.dumps(value, sort_keys=True))


def _sort_key(prop: str) -> Callable[[JsonObject], tuple[int, Any]]:
    return lambda item: _sort_value(_lookup(item, prop))


def parse_int(raw: str | None, name: str) -> int | None:
    """``start`` / ``limit``: absent is ``None``; otherwise a non-negative integer."""
    if raw is None or raw == "":
        return None
    try:
        number = int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, not {raw!r}") from None
    if number < 0:
        raise QueryError(f"{name} must not be negative")
    return number


def apply_query(
    items: Sequence[JsonObject],
    *,
    filter_text: str | None = None,
    sort_text: str | None = None,
    start: int | None = None,
    limit: int | None = None,
) -> tuple[int, list[JsonObject]]:
    """Filter, sort, then page ``items``; returns ``(total after filtering, page)``."""
    known = frozenset(k.lower() for k in items[0]) if items else None
    selected = list(items)
    if filter_text:
        predicate = parse_filter(filter_text, known_properties=known)
        selected = [item for item in selected if predicate(item)]
    if sort_text:
        for key in reversed(parse_sort(sort_text, known_properties=known)):
            selected.sort(key=_sort_key(key.property), reverse=key.descending)
    total = len(selected)
    begin = start or 0
    end = None if limit is None else begin + limit
    return total, selected[begin:end]
