"""Filter and sort builders produce VRO's JSON expressions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.vro.query import Expression, F, Sort, encode_filter, encode_sort


def test_comparison_operators() -> None:
    """==, !=, > and < each give one Expression with VRO's operator string."""
    assert (F("name") == "SAP Tier1").to_json() == {
        "property": "name",
        "operator": "==",
        "value": "SAP Tier1",
    }
    assert (F("planType") != "Restore").to_json()["operator"] == "!="
    assert (F("targetRTO") > 30).to_json() == {"property": "targetRTO", "operator": ">", "value": 30}
    assert (F("targetRPO") < 15).to_json()["operator"] == "<"


def test_in_and_like() -> None:
    """in_ carries an array value; like carries the pattern."""
    assert F("planType").in_(("Replica", "CdpReplica")).to_json() == {
        "property": "planType",
        "operator": "in",
        "value": ["Replica", "CdpReplica"],
    }
    assert F("name").like("SAP*").to_json() == {"property": "name", "operator": "like", "value": "SAP*"}


def test_and_or_nest_expressions_and_flatten_chains() -> None:
    """& is &&, | is ||, operands nest as an array; a & b & c is one && with three operands."""
    a, b, c = F("a") == 1, F("b") == 2, F("c") == 3
    combined = ((a & b & c) | (F("d") != 4)).to_json()
    assert combined == {
        "property": "",
        "operator": "||",
        "value": [
            {"property": "", "operator": "&&", "value": [a.to_json(), b.to_json(), c.to_json()]},
            {"property": "d", "operator": "!=", "value": 4},
        ],
    }


def test_datetimes_are_sent_as_iso_strings() -> None:
    """A datetime operand is written in ISO 8601."""
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (F("lastRunTime") > moment).to_json()["value"] == "2026-01-02T03:04:05+00:00"


def test_unsupported_values_are_refused() -> None:
    """Only JSON-able values go into a filter."""
    with pytest.raises(TypeError, match="filter value"):
        (F("name") == object()).to_json()


def test_encode_filter_gives_compact_json_array() -> None:
    """One expression or several: always a JSON array; none means no parameter."""
    assert (
        encode_filter(F("planType") == "Restore")
        == '[{"property":"planType","operator":"==","value":"Restore"}]'
    )
    two = encode_filter([F("a") == 1, F("b").like("x*")])
    assert two is not None
    assert [e["property"] for e in json.loads(two)] == ["a", "b"]
    assert encode_filter(None) is None
    assert encode_filter([]) is None


def test_encode_sort_keeps_key_order() -> None:
    """Multi-key sort keeps the most significant key first."""
    assert encode_sort([Sort.asc("type"), Sort.desc("name")]) == (
        '[{"property":"type","direction":"ASC"},{"property":"name","direction":"DESC"}]'
    )
    assert encode_sort(Sort.asc("name")) == '[{"property":"name","direction":"ASC"}]'
    assert encode_sort(None) is None


def test_field_needs_a_name() -> None:
    """F("") is a programming error."""
    with pytest.raises(ValueError, match="name"):
        F("")


def test_expressions_are_values() -> None:
    """Expressions compare by content (handy in tests and caches)."""
    assert isinstance(F("a") == 1, Expression)
    assert (F("a") == 1) == (F("a") == 1)
