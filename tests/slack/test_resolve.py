"""Name resolution: id, exact name over prefix, unique prefix, candidates, nearest names."""

from __future__ import annotations

from bot.slack.resolve import Ambiguous, Candidate, Found, NotFound, nearest, resolve
from bot.vro.models import Plan, RecoveryLocation

PLANS = [
    Candidate("6f9619ff-8b86-d011-b42d-00c04fc964ff", "SAP Tier1"),
    Candidate("7a1b2c3d-0000-0000-0000-000000000001", "SAP Tier1 DR Test"),
    Candidate("7a1b2c3d-0000-0000-0000-000000000002", "SAP Tier2"),
    Candidate("7a1b2c3d-0000-0000-0000-000000000003", "Exchange"),
    Candidate("7a1b2c3d-0000-0000-0000-000000000004", "File servers"),
]


def test_an_id_resolves_case_insensitively_and_with_braces() -> None:
    result = resolve("{6F9619FF-8B86-D011-B42D-00C04FC964FF}", PLANS)
    assert isinstance(result, Found)
    assert result.item.name == "SAP Tier1"
    assert result.how == "id"


def test_an_exact_name_wins_over_a_longer_name_with_the_same_prefix() -> None:
    result = resolve("sap tier1", PLANS)
    assert isinstance(result, Found)
    assert result.item.name == "SAP Tier1"
    assert result.how == "name"


def test_extra_spaces_do_not_matter() -> None:
    result = resolve("  SAP   Tier1 ", PLANS)
    assert isinstance(result, Found)
    assert result.item.name == "SAP Tier1"


def test_a_unique_prefix_is_enough() -> None:
    result = resolve("exch", PLANS)
    assert isinstance(result, Found)
    assert result.item.name == "Exchange"
    assert result.how == "prefix"
    assert isinstance(resolve("SAP Tier1 DR", PLANS), Found)


def test_an_ambiguous_prefix_lists_the_candidates() -> None:
    result = resolve("SAP", PLANS)
    assert isinstance(result, Ambiguous)
    assert [c.name for c in result.candidates] == ["SAP Tier1", "SAP Tier1 DR Test", "SAP Tier2"]
    assert "matches 3 plans" in result.message
    assert "“SAP Tier2”" in result.message


def test_two_plans_with_the_same_name_are_ambiguous_and_shown_with_ids() -> None:
    twins = [Candidate("a1", "Web"), Candidate("b2", "web")]
    result = resolve("WEB", twins)
    assert isinstance(result, Ambiguous)
    assert "(id a1)" in result.message
    assert "(id b2)" in result.message


def test_an_unknown_name_suggests_the_nearest_names() -> None:
    result = resolve("Exchnage", PLANS)
    assert isinstance(result, NotFound)
    assert [c.name for c in result.nearest] == ["Exchange"]
    assert "Did you mean “Exchange”?" in result.message


def test_accents_are_set_aside_for_suggestions_but_not_for_resolving() -> None:
    plans = [Candidate("p-zrh", "Zürich Büro"), Candidate("p-sao", "São Paulo Finance")]
    result = resolve("zurich", plans)
    assert isinstance(result, NotFound)  # a name still means what it says
    assert [c.name for c in result.nearest] == ["Zürich Büro"]
    assert [c.name for c in nearest("sao paulo", plans)] == ["São Paulo Finance"]


def test_a_name_contained_in_others_suggests_them() -> None:
    assert [c.name for c in nearest("Tier2", PLANS)] == ["SAP Tier2"]


def test_nothing_close_says_so_plainly() -> None:
    result = resolve("zzzz", PLANS, kind="recovery location")
    assert isinstance(result, NotFound)
    assert result.nearest == ()
    assert result.message == "There is no recovery location named “zzzz”."


def test_an_empty_query_resolves_nothing() -> None:
    assert isinstance(resolve("", PLANS), NotFound)


def test_vro_models_resolve_directly() -> None:
    plans = [Plan(id="p1", name="Alpha"), Plan(id="p2", name="Beta")]
    found = resolve("alp", plans)
    assert isinstance(found, Found)
    assert found.item is plans[0]
    locations = [
        RecoveryLocation(id="l1", name="DR site"),
        RecoveryLocation(id="l2", name="Original location"),
    ]
    assert isinstance(resolve("dr", locations, kind="location"), Found)
