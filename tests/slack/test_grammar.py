"""The /vro grammar: every verb parses as DESIGN §4 says, and every mistake gets a useful answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.grammar import (
    GENERAL_USAGE,
    PLAN_ACTIONS,
    VERB_FOR_ACTION,
    VERBS,
    Kind,
    ParsedCommand,
    ParseError,
    Ref,
    RefKind,
    TimeDirection,
    TimeParseError,
    format_time,
    lookup_verb,
    parse,
    parse_time,
)
from bot.vro import operations, plan_states
from bot.vro.actions import PlanAction, validate_params

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

DESIGN_VERBS = [
    "help",
    "plans",
    "plan",
    "groups",
    "vms",
    "steps",
    "params",
    "status",
    "locations",
    "scopes",
    "license",
    "watch",
    "unwatch",
    "approvals",
    "audit",
    "enable",
    "disable",
    "halt",
    "failover",
    "permanent-failover",
    "failback",
    "prepare-failback",
    "switchover",
    "commit-failback",
    "undo",
    "reset",
    "clear-log",
    "restore",
    "continue",
    "check",
    "scan",  # issue 12: MalwareScan, VRO 13+
    "schedule",
    "unschedule",
    "clone",
]

POLICY_VERBS = [
    "enable",
    "disable",
    "halt",
    "failover",
    "permanent-failover",
    "failback",
    "prepare-failback",
    "switchover",
    "commit-failback",
    "undo",
    "reset",
    "clear-log",
    "restore",
    "continue",
    "check",
    "scan",
    "schedule",
    "unschedule",
    "clone",
]


def ok(text: str) -> ParsedCommand:
    result = parse(text, now=NOW)
    assert isinstance(result, ParsedCommand), result.render() if isinstance(result, ParseError) else result
    return result


def err(text: str) -> ParseError:
    result = parse(text, now=NOW)
    assert isinstance(result, ParseError), result
    return result


# --- the table ------------------------------------------------------------------------------


def test_the_table_has_exactly_the_design_verbs_in_order() -> None:
    assert list(VERBS) == DESIGN_VERBS


def test_action_verbs_are_exactly_the_policy_verbs_and_name_themselves_as_policy_key() -> None:
    actions = [v for v, spec in VERBS.items() if spec.kind is Kind.ACTION]
    assert actions == POLICY_VERBS
    assert all(VERBS[v].policy_verb == v for v in actions)
    assert all(spec.policy_verb is None for spec in VERBS.values() if spec.kind is not Kind.ACTION)


def test_the_action_verbs_are_the_action_tables_verbs() -> None:
    """The grammar offers exactly the verbs bot.vro.operations names, each for its actions,
    with the table's confirm-dialog flag."""
    grammar = {spec.verb: set(spec.actions) for spec in VERBS.values() if spec.actions}
    assert grammar == {verb: {a.value for a in actions} for verb, actions in operations.VERB_ACTIONS.items()}
    for row in operations.ACTIONS:
        if row.action not in (PlanAction.SCHEDULE_AT, PlanAction.SCHEDULE_AFTER):
            assert VERBS[row.verb].destructive is row.destructive, row.verb


def test_every_plan_action_is_performed_by_exactly_one_verb() -> None:
    assert set(PLAN_ACTIONS) == {a.value for a in PlanAction} == set(plan_states.ALL_ACTIONS)
    performed = [a for spec in VERBS.values() for a in spec.actions]
    assert sorted(performed) == sorted(PLAN_ACTIONS)
    assert VERB_FOR_ACTION["ScheduleAfter"].verb == "schedule"
    assert VERB_FOR_ACTION["FailbackToProduction"].verb == "failback"


def test_option_params_are_the_snake_case_params_of_perform() -> None:
    known = {
        "full_stop",
        "restore_point_date",
        "execute_chained_plans",
        "restore_location_id",
        "failback_restore_vm_tags",
        "execute_readiness_check",
        "generate_dr_report",
        "generate_report",
        "option",
        "start_time",
        "previous_plan_id",
        "name",
    }
    used = {o.param for s in VERBS.values() for o in s.options if o.param} | {
        a.param for s in VERBS.values() for f in s.forms for a in f.args if a.param
    }
    assert used == known


def test_every_verb_has_help_usage_vro_call_and_an_example_that_parses() -> None:
    for spec in VERBS.values():
        assert all((spec.summary, spec.help, spec.vro_call, spec.examples)), spec.verb
        assert all(line.startswith(f"/vro {spec.verb}") for line in spec.usage_lines)
        for example in spec.examples:
            ok(example.removeprefix("/vro ").replace("2026-11-27 14:00", "2026-11-28 14:00"))


def test_actions_take_reason_and_queries_take_public() -> None:
    for spec in VERBS.values():
        names = {o.name for o in spec.all_options}
        if spec.kind is Kind.ACTION:
            assert "reason" in names
            assert "public" not in names
        elif spec.verb not in {"watch", "unwatch"}:
            assert "public" in names
            assert "reason" not in names


def test_destructive_verbs_are_the_ones_that_move_or_stop_workloads() -> None:
    destructive = {v for v, s in VERBS.items() if s.destructive}
    assert {
        "failover",
        "permanent-failover",
        "failback",
        "restore",
        "undo",
        "halt",
        "commit-failback",
    } <= destructive
    assert not destructive & {"enable", "check", "clone", "schedule", "unschedule", "plans", "status"}


# --- every verb, table-driven ------------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any]]] = [
    ("help", {"verb": "help", "args": {}}),
    ("help failover", {"verb": "help", "args": {"command": "failover"}}),
    ("help PermanentFailover", {"verb": "help", "args": {"command": "permanent-failover"}}),
    ("plans", {"verb": "plans", "args": {}, "options": {}}),
    (
        "plans SAP* --type cdp --state Ready",
        {"args": {"text": "SAP*"}, "options": {"type": "CdpReplica", "state": "Ready"}},
    ),
    ("plans sap tier --public", {"args": {"text": "sap tier"}, "public": True}),
    ('plan "SAP Tier1"', {"verb": "plan", "plan": "SAP Tier1", "kind": Kind.QUERY}),
    ("plan SAP Tier1", {"plan": "SAP Tier1"}),
    ("groups 'SAP Tier1'", {"verb": "groups", "plan": "SAP Tier1"}),
    ('vms "SAP Tier1"', {"verb": "vms", "plan": "SAP Tier1", "refs": {}}),
    ('vms "SAP Tier1" App servers', {"refs": {"group": Ref(RefKind.GROUP, "App servers")}}),
    ('steps "SAP Tier1" --vm sap-app01', {"verb": "steps", "refs": {"vm": Ref(RefKind.VM, "sap-app01")}}),
    ('steps "SAP Tier1" --group "Pre steps"', {"refs": {"group": Ref(RefKind.GROUP, "Pre steps")}}),
    (
        'params "SAP Tier1" Verify VM Heartbeat --vm sap-app01',
        {
            "verb": "params",
            "refs": {"step": Ref(RefKind.STEP, "Verify VM Heartbeat"), "vm": Ref(RefKind.VM, "sap-app01")},
        },
    ),
    ("status SAP Tier1 --public", {"verb": "status", "plan": "SAP Tier1", "public": True}),
    ("locations", {"verb": "locations"}),
    ("scopes --public", {"verb": "scopes", "public": True}),
    ("license", {"verb": "license"}),
    ("watch SAP Tier1", {"verb": "watch", "plan": "SAP Tier1", "kind": Kind.LOCAL}),
    ("unwatch SAP Tier1", {"verb": "unwatch", "plan": "SAP Tier1"}),
    ("approvals", {"verb": "approvals", "kind": Kind.LOCAL}),
    ("audit", {"verb": "audit", "plan": None}),
    ("audit SAP Tier1", {"verb": "audit", "plan": "SAP Tier1"}),
    ("enable X", {"verb": "enable", "action": "Enable", "params": {}, "kind": Kind.ACTION}),
    ("disable X --reason maintenance", {"action": "Disable", "reason": "maintenance"}),
    ("halt X", {"action": "Halt", "params": {}}),
    ("halt X --full-stop", {"action": "Halt", "params": {"full_stop": True}}),
    ("halt X --full-stop=no", {"params": {}, "options": {"full-stop": False}}),
    (
        'failover "SAP Tier1" --reason "INC-42 site A lost"',
        {"action": "Failover", "plan": "SAP Tier1", "reason": "INC-42 site A lost", "params": {}},
    ),
    (
        "failover X --restore-point 2026-11-27T10:00 --chained",
        {"params": {"restore_point_date": "2026-11-27T10:00:00+00:00", "execute_chained_plans": True}},
    ),
    (
        "failover X --restore-point 2026-11-27 10:00",
        {"params": {"restore_point_date": "2026-11-27T10:00:00+00:00"}},
    ),
    (
        "failover X --restore-point=2026-11-27 10:00",
        {"params": {"restore_point_date": "2026-11-27T10:00:00+00:00"}},
    ),
    ("permanent-failover X", {"action": "PermanentFailover"}),
    (
        'failback X --location "DR site" --restore-vm-tags',
        {
            "action": "FailbackToProduction",
            "params": {"failback_restore_vm_tags": True},
            "refs": {"location": Ref(RefKind.LOCATION, "DR site", "restore_location_id")},
        },
    ),
    ("prepare-failback X", {"action": "PrepareToFailback"}),
    ("switchover X", {"action": "SwitchoverToProduction"}),
    ("commit-failback X", {"action": "CommitFailback"}),
    ("undo X", {"action": "Undo"}),
    ("reset X --check", {"action": "ResetState", "params": {"execute_readiness_check": True}}),
    ("clear-log X --report", {"action": "ResetChangeLog", "params": {"generate_dr_report": True}}),
    (
        "restore X --location 'Original location' --restore-point 11:00 --chained",
        {
            "action": "Restore",
            "params": {"restore_point_date": "2026-11-27T11:00:00+00:00", "execute_chained_plans": True},
            "refs": {"location": Ref(RefKind.LOCATION, "Original location", "restore_location_id")},
        },
    ),
    ("continue X next-vm", {"action": "Continue", "params": {"option": "ProceedToNextVm"}}),
    ("continue SAP Tier1 RETRY-STEP", {"plan": "SAP Tier1", "params": {"option": "RetryFailedStep"}}),
    ("continue X RetryFailedGroup", {"params": {"option": "RetryFailedGroup"}}),
    ("continue X proceed_to_next_group", {"params": {"option": "ProceedToNextGroup"}}),
    ("check X", {"action": "ReadinessCheck", "params": {}}),
    ("check X --report", {"params": {"generate_report": True}}),
    (
        "schedule SAP Tier1 at 2026-11-28 14:00",
        {"action": "ScheduleAt", "plan": "SAP Tier1", "params": {"start_time": "2026-11-28T14:00:00+00:00"}},
    ),
    ("schedule X at 14:00", {"params": {"start_time": "2026-11-27T14:00:00+00:00"}}),
    ("schedule X at 09:00", {"params": {"start_time": "2026-11-28T09:00:00+00:00"}}),
    ("schedule X at tomorrow 09:30 +01:00", {"params": {"start_time": "2026-11-28T08:30:00+00:00"}}),
    (
        'schedule "SAP Tier2" after SAP Tier1',
        {
            "action": "ScheduleAfter",
            "plan": "SAP Tier2",
            "refs": {"previous": Ref(RefKind.PLAN, "SAP Tier1", "previous_plan_id")},
        },
    ),
    ('schedule "Run at night" AT 23:00', {"plan": "Run at night", "action": "ScheduleAt"}),
    ("unschedule X", {"action": "DeleteSchedule"}),
    ('scan "Ontario Restore"', {"plan": "Ontario Restore", "action": "MalwareScan", "params": {}}),
    ("clone X", {"action": "Clone", "params": {}}),
    ('clone "SAP Tier1" SAP Tier1 copy', {"plan": "SAP Tier1", "params": {"name": "SAP Tier1 copy"}}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_verb_parses_into_the_expected_command(text: str, expected: dict[str, Any]) -> None:
    command = ok(text)
    for attribute, value in expected.items():
        actual = getattr(command, attribute)
        if attribute in {"args", "options", "params", "refs"}:
            actual = dict(actual)
        assert actual == value, attribute


def test_every_design_verb_is_covered_by_the_parse_table() -> None:
    covered = {ok(text).verb for text, _ in CASES}
    assert covered == set(DESIGN_VERBS)


ERRORS: list[tuple[str, str]] = [
    ("failovr X", "Did you mean `failover`"),
    ("frobnicate", "I don't know the command “frobnicate”"),
    ("help nothing-like-it", "I don't know the command"),
    ("failover", "Which plan?"),
    ("failover --reason x", "Which plan?"),
    ("failover X --bogus", "has no option “--bogus”"),
    ("failover X --chaned", "Did you mean `--chained`?"),
    ("failover X --public", "has no option “--public”"),
    ("status X --reason why", "has no option “--reason”"),
    ("failover X --restore-point", "`--restore-point` needs a value"),
    ("failover X --restore-point --chained", "`--restore-point` needs a value"),
    ("failover X --restore-point yesterdayish", "I can't read “yesterdayish” as a time"),
    ("failover X --restore-point 2026-12-01T10:00", "is in the future"),
    ("failover X --restore-point 25:00", "not a time of day"),
    ("failover X --reason a --reason b", "given twice"),
    ('failover X --reason ""', "The reason is empty"),
    ("failover X --reason " + "x" * 600, "keep it under 500"),
    ("halt X --full-stop=maybe", "is a switch"),
    ("continue X", "needs <option>"),
    ("continue X onwards", "“onwards” is not a valid option"),
    ("plans --type mainframe", "“mainframe” is not a valid type"),
    ("steps X --vm a --group b", "Use only one of"),
    ("params X", "needs <step>"),
    ("license now", "takes no arguments"),
    ('plan "SAP Tier1', "never closed"),
    ("schedule X", "Say when after the plan"),
    ("schedule", "needs a plan"),
    ("schedule X at", "needs <time>"),
    ("schedule X at 2026-11-27 11:00", "has already passed"),
    ("schedule X after", "needs <other-plan>"),
    ("vms X a b --vm c", "has no option “--vm”"),
]


@pytest.mark.parametrize(("text", "fragment"), ERRORS, ids=[e[0][:40] for e in ERRORS])
def test_mistakes_are_explained_with_the_usage_line(text: str, fragment: str) -> None:
    error = err(text)
    rendered = error.render()
    assert fragment in rendered
    assert "Usage: `/vro" in rendered
    spec = lookup_verb(text.split()[0])
    if spec is not None and spec.verb != "help":
        assert spec.usage_lines[0] in rendered


def test_unknown_verbs_show_the_general_usage_and_suggestions() -> None:
    error = err("statsu X")
    assert error.suggestions[0] == "status"
    assert GENERAL_USAGE in error.render()


# --- quoting and forgiving input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'status "SAP Tier1"',
        "status 'SAP Tier1'",
        "status “SAP Tier1”",
        "status ‘SAP Tier1’",
        "status ”SAP Tier1”",
        "status SAP   Tier1",
        "STATUS SAP Tier1",
        "status\u00a0SAP Tier1",
    ],
)
def test_quotes_of_every_kind_and_no_quotes_name_the_same_plan(text: str) -> None:
    assert ok(text).plan == "SAP Tier1"


def test_an_apostrophe_inside_a_word_is_not_a_quote() -> None:
    assert ok("plan Bob's plan").plan == "Bob's plan"
    assert ok("plan Bob’s plan").plan == "Bob’s plan"


def test_a_quoted_word_that_looks_like_an_option_is_a_value() -> None:
    assert ok('plan "--chained"').plan == "--chained"
    assert ok('failover X --reason "--chained"').reason == "--chained"


def test_options_accept_equals_quotes_dashes_from_autocorrect_and_any_case() -> None:
    for text in (
        'failover X --reason="site A lost"',
        "failover X —reason “site A lost”",
        "failover X –reason 'site A lost'",
        'failover X --REASON "site A lost"',
        "failover X --reason=“site A lost”",
    ):
        assert ok(text).reason == "site A lost", text


def test_words_split_from_the_plan_by_an_option_are_not_glued_onto_it() -> None:
    # An unquoted reason's tail used to join the plan: a failover request for another plan.
    problem = err("failover SAP Tier1 --reason INC-42 DR Test")
    assert problem.message.startswith(
        "I don't know what to do with “DR Test”: words after an option are not part of the plan."
    )
    assert '--reason "INC-42 site A lost"' in problem.message
    assert err("plans SAP --type replica Tier1").message.startswith("I don't know what to do with “Tier1”")
    # words that stand together, before or after the options, still need no quotes
    assert ok("failover SAP Tier1 DR Test --reason INC-42").plan == "SAP Tier1 DR Test"
    assert ok("failover --reason INC-42 --chained SAP Tier1").plan == "SAP Tier1"
    # a plan and a greedy group may sit on either side of an option
    assert ok('vms "SAP Tier1" --public App servers').args == {"group": "App servers"}


def test_double_dash_ends_options() -> None:
    assert ok("plan -- --weird name").plan == "--weird name"


def test_slack_html_escapes_are_undone() -> None:
    assert ok("plan R&amp;D &lt;main&gt;").plan == "R&D <main>"


def test_help_option_on_any_verb_asks_for_that_verbs_help() -> None:
    command = ok("failover --help")
    assert command.verb == "help"
    assert command.help_topic == "failover"


def test_blank_text_is_help() -> None:
    assert ok("   ").verb == "help"


def test_verbs_are_case_and_dash_insensitive_and_vro_names_work() -> None:
    assert ok("Permanent_Failover X").verb == "permanent-failover"
    assert ok("ReadinessCheck X").verb == "check"
    assert ok("FailbackToProduction X").verb == "failback"
    assert ok("ResetChangeLog X").verb == "clear-log"


def test_the_source_text_is_kept_for_pagination() -> None:
    assert ok("plans SAP --type replica").source == "plans SAP --type replica"


def test_perform_params_merge_resolved_ids_and_refuse_unresolved_refs() -> None:
    command = ok('restore X --location "DR site" --chained')
    with pytest.raises(KeyError, match="DR site"):
        command.perform_params()
    assert command.perform_params({"location": "loc-1"}) == {
        "execute_chained_plans": True,
        "restore_location_id": "loc-1",
    }
    after = ok("schedule A after B")
    assert after.perform_params({"previous": "id-b"}) == {"previous_plan_id": "id-b"}


# --- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "direction", "expected"),
    [
        ("2026-11-27T10:00", TimeDirection.PAST, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T10:00Z", TimeDirection.PAST, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27 10:00", TimeDirection.PAST, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27 10:00 UTC", TimeDirection.PAST, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026/11/27 10:00", TimeDirection.PAST, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026/11/27T10:00:00", TimeDirection.PAST, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T13:00+02:00", TimeDirection.PAST, datetime(2026, 11, 27, 11, 0, tzinfo=UTC)),
        ("2026-11-27 13:00 +02:00", TimeDirection.PAST, datetime(2026, 11, 27, 11, 0, tzinfo=UTC)),
        ("11:00", TimeDirection.PAST, datetime(2026, 11, 27, 11, 0, tzinfo=UTC)),
        ("13:00", TimeDirection.PAST, datetime(2026, 11, 26, 13, 0, tzinfo=UTC)),
        ("13:00", TimeDirection.FUTURE, datetime(2026, 11, 27, 13, 0, tzinfo=UTC)),
        ("11:00", TimeDirection.FUTURE, datetime(2026, 11, 28, 11, 0, tzinfo=UTC)),
        ("11:00 -05:00", TimeDirection.FUTURE, datetime(2026, 11, 27, 16, 0, tzinfo=UTC)),
        ("yesterday 23:00", TimeDirection.PAST, datetime(2026, 11, 26, 23, 0, tzinfo=UTC)),
        ("tomorrow 09:30", TimeDirection.FUTURE, datetime(2026, 11, 28, 9, 30, tzinfo=UTC)),
        ("today 12:00:30", None, datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)),
    ],
)
def test_times_are_utc_unless_an_offset_is_given(
    text: str, direction: TimeDirection | None, expected: datetime
) -> None:
    moment = parse_time(text, now=NOW, direction=direction)
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text", ["", "soon", "2026-13-01", "24:00", "0001-01-01T00:00+05:00", "9999-12-31T23:59", "12:00 +25:00"]
)
def test_unreadable_or_absurd_times_raise_a_readable_error(text: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_time(text, now=NOW)
    assert str(info.value)


def test_format_time_shows_utc() -> None:
    assert (
        format_time(datetime(2026, 11, 27, 15, 0, tzinfo=timezone(timedelta(hours=2))))
        == "2026-11-27 13:00 UTC"
    )


# --- never an exception, never an empty answer ----------------------------------------------

_WORDS = st.sampled_from(
    [
        *DESIGN_VERBS,
        "SAP",
        "Tier1",
        "--reason",
        "--chained",
        "--restore-point",
        "--location",
        "--type",
        "--vm",
        "--group",
        "--public",
        "--help",
        "at",
        "after",
        "14:00",
        "2026-11-27",
        '"',
        "'",
        "“",
        "”",
        "—",
        "--",
        "=",
        "next-vm",
        "\\",
        "&amp;",
        "x=y",
        "--reason=",
        "--full-stop=no",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_WORDS, max_size=12).map(" ".join)))
def test_arbitrary_text_never_raises_and_always_answers(text: str) -> None:
    result = parse(text, now=NOW)
    if isinstance(result, ParseError):
        assert result.message.strip()
        assert "Usage: `/vro" in result.render()
    else:
        assert result.verb in VERBS
        if result.kind is Kind.ACTION:
            assert result.plan
            assert result.action


@pytest.mark.parametrize("text", [text for text, _ in CASES if ok(text).action], ids=lambda t: t[:40])
def test_what_the_grammar_produces_is_accepted_by_perform(text: str) -> None:
    """Cross-check with bot.vro.actions: every parsed action's params pass its validation."""
    command = ok(text)
    assert command.action is not None
    resolved = {name: f"id-of-{name}" for name, ref in command.refs.items() if ref.param}
    validate_params(command.action, command.perform_params(resolved))
