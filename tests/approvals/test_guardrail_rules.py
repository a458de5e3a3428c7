"""The guardrail policy keys and their pure rules: readiness gate, approvals from distinct groups, RTO."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.approvals.policy import Policy, PolicyError
from bot.approvals.rules import (
    CheckMode,
    CheckRule,
    GroupNeed,
    Readiness,
    match_approvers,
    readiness,
    rto_verdict,
)

GUARDRAILS = """
roles:
  viewer:    {users: ["*"]}
  operator:  {users: ["*"]}
  approver:  {users: [U0LEAD1]}
  dr_lead:   {users: [U0LEAD1, U0BOTH]}
  app_owner: {users: [U0APP1, U0BOTH]}
defaults: {rto_minutes: 60}
actions:
  failover:
    approvals: {all_of: [{role: dr_lead, count: 1}, {role: app_owner, count: 1}]}
    require_check: {max_age_hours: 24, mode: refuse}
  restore:
    require_check: {max_age_hours: 12, mode: warn}
  halt: {approvals: 0}
plans:
  "SAP Tier1": {rto_minutes: 30}
"""
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as caught:
        Policy.from_yaml(text)
    return caught.value.problems


# --- the policy file ---------------------------------------------------------------------


def test_all_of_approvals_become_groups_with_their_total_and_a_readable_role() -> None:
    rule = Policy.from_yaml(GUARDRAILS).rule("failover")
    assert rule.groups == (GroupNeed("dr_lead", 1), GroupNeed("app_owner", 1))
    assert rule.approvals == 2
    assert rule.approver_role == "dr_lead or app_owner"
    assert rule.approver_roles == ("dr_lead", "app_owner")


def test_a_plain_number_of_approvals_still_means_one_role() -> None:
    rule = Policy.from_yaml(GUARDRAILS).rule("enable")
    assert (rule.approvals, rule.groups, rule.approver_roles) == (1, (), ("approver",))


def test_require_check_is_per_action_with_refuse_as_the_default_mode() -> None:
    policy = Policy.from_yaml(GUARDRAILS)
    assert policy.rule("failover").require_check == CheckRule(24, CheckMode.REFUSE)
    assert policy.rule("restore").require_check == CheckRule(12, CheckMode.WARN)
    assert policy.rule("halt").require_check is None
    text = GUARDRAILS.replace("{max_age_hours: 24, mode: refuse}", "{max_age_hours: 6}")
    assert Policy.from_yaml(text).rule("failover").require_check == CheckRule(6, CheckMode.REFUSE)


def test_rto_comes_from_the_plan_by_name_or_id_in_any_case_else_the_default() -> None:
    policy = Policy.from_yaml(GUARDRAILS)
    assert policy.rto_minutes("p-1", "sap tier1") == 30
    assert policy.rto_minutes("p-2", "CRM") == 60
    assert Policy.builtin().rto_minutes("p-2", "CRM") is None
    by_id = GUARDRAILS.replace('"SAP Tier1": {rto_minutes: 30}', '"0b4f-11": {rto_minutes: 15}')
    assert Policy.from_yaml(by_id).rto_minutes("0B4F-11", "SAP Tier1") == 15


def test_mistakes_in_the_new_keys_name_the_key() -> None:
    assert _problems("actions: {failover: {approvals: {all_of: [{role: boss}]}}}") == (
        "actions.failover.approvals.all_of[0].role: unknown role 'boss'; known roles: approver, operator, viewer",
    )
    assert _problems("actions: {failover: {approvals: {all_of: [{rol: approver}]}}}") == (
        "actions.failover.approvals.all_of[0].role: required",
        "actions.failover.approvals.all_of[0].rol: unknown key; known keys: role, count",
    )
    assert _problems("actions: {failover: {approvals: {any_of: []}}}") == (
        "actions.failover.approvals.all_of: required",
        "actions.failover.approvals.any_of: unknown key; known keys: all_of",
    )
    assert _problems("actions: {failover: {approvals: two}}") == (
        "actions.failover.approvals: must be a whole number or {all_of: [{role: ..., count: ...}]}",
    )
    assert _problems("actions: {failover: {require_check: {max_age_hours: 0, mode: maybe}}}") == (
        "actions.failover.require_check.max_age_hours: must be more than 0.0",
        "actions.failover.require_check.mode: must be one of 'refuse' or 'warn'",
    )
    assert _problems("actions: {check: {require_check: {}}}") == (
        "actions.check.require_check: the readiness check itself can't require one; remove it",
    )
    assert _problems("plans: {CRM: {rto: 5}}") == ("plans.CRM.rto: unknown key; known keys: rto_minutes",)
    twice = "actions: {failover: {approvals: {all_of: [{role: approver}, {role: approver, count: 2}]}}}"
    assert _problems(twice) == (
        "actions.failover.approvals.all_of[1].role: 'approver' is listed twice; give it one count",
    )


# --- readiness ---------------------------------------------------------------------------


def _verdict(
    result: str | None, hours_ago: float | None, *, running: bool = False, limit: float = 24
) -> Readiness:
    checked = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return readiness(
        check_result=result, checked_at=checked, check_running=running, rule=CheckRule(limit), now=NOW
    ).state


def test_a_recent_passed_check_proves_readiness() -> None:
    assert _verdict("Success", 2) is Readiness.PROVEN
    assert _verdict("Warning", 23.9) is Readiness.PROVEN  # passed with warnings: VRO still verifies it


def test_a_check_older_than_the_limit_is_stale() -> None:
    assert _verdict("Success", 24.1) is Readiness.STALE
    assert _verdict("Success", 5, limit=4) is Readiness.STALE


def test_a_failed_check_fails_whatever_its_age() -> None:
    assert _verdict("Error", 0.1) is Readiness.FAILED


def test_no_check_on_record_is_never() -> None:
    assert _verdict("Undefined", 3) is Readiness.NEVER
    assert _verdict(None, None) is Readiness.NEVER
    assert _verdict("Success", None) is Readiness.NEVER  # a result without a time proves nothing


def test_a_check_running_now_is_not_proof_yet() -> None:
    assert _verdict("Success", 1, running=True) is Readiness.RUNNING


def test_an_offset_less_check_time_is_read_in_the_vro_time_zone() -> None:
    naive = (NOW - timedelta(hours=23)).replace(tzinfo=None)  # 13:00 the day before
    verdict = readiness(
        check_result="Success",
        checked_at=naive,
        check_running=False,
        rule=CheckRule(24),
        now=NOW,
        vro_timezone=timezone(timedelta(hours=2)),  # so 11:00 UTC: 25 hours ago
    )
    assert verdict.state is Readiness.STALE


def test_the_verdict_says_what_is_wrong_in_a_sentence() -> None:
    stale = readiness(
        check_result="Success",
        checked_at=NOW - timedelta(days=3),
        check_running=False,
        rule=CheckRule(24),
        now=NOW,
    )
    assert stale.describe() == (
        "The last readiness check passed 3 days ago, longer ago than the 24 hours this action allows."
    )
    assert stale.audit()["readiness"] == "stale"


# --- approvals from distinct groups ------------------------------------------------------------

LEAD_AND_OWNER = (GroupNeed("dr_lead", 1), GroupNeed("app_owner", 1))


def test_one_person_holding_both_roles_fills_only_one_group() -> None:
    both = match_approvers(LEAD_AND_OWNER, [("U0BOTH", frozenset({"dr_lead", "app_owner"}))])
    assert not both.complete
    assert both.filled == 1
    assert sum(both.missing.values()) == 1
    # either group may still come: U0BOTH can move to the other one
    assert both.open_roles == ("dr_lead", "app_owner")
    assert both.needed_text() == "1 more approval from dr_lead or app_owner"


def test_someone_holding_both_roles_moves_aside_for_a_later_single_role_approver() -> None:
    """A greedy pass would give U0BOTH the dr_lead slot and then have no place for U0LEAD1."""
    matching = match_approvers(
        LEAD_AND_OWNER,
        [("U0BOTH", frozenset({"dr_lead", "app_owner"})), ("U0LEAD1", frozenset({"dr_lead"}))],
    )
    assert matching.complete
    assert matching.assigned == {"dr_lead": ("U0LEAD1",), "app_owner": ("U0BOTH",)}


def test_two_holders_of_the_same_single_role_leave_the_other_group_missing() -> None:
    matching = match_approvers(
        LEAD_AND_OWNER, [("U0LEAD1", frozenset({"dr_lead"})), ("U0LEAD2", frozenset({"dr_lead"}))]
    )
    assert not matching.complete
    assert matching.missing == {"dr_lead": 0, "app_owner": 1}
    assert matching.missing_text() == "app_owner (1)"
    assert matching.needed_text() == "approval from app_owner (1)"


def test_counts_above_one_need_that_many_distinct_people() -> None:
    needs = (GroupNeed("dr_lead", 2), GroupNeed("app_owner", 1))
    people = [
        ("A", frozenset({"dr_lead", "app_owner"})),
        ("B", frozenset({"dr_lead", "app_owner"})),
        ("C", frozenset({"dr_lead"})),
    ]
    two = match_approvers(needs, people[:2])
    assert (two.filled, sum(two.missing.values())) == (2, 1)
    assert match_approvers(needs, people).complete


def test_approvers_holding_none_of_the_roles_count_for_nothing() -> None:
    matching = match_approvers(LEAD_AND_OWNER, [("X", frozenset())])
    assert matching.filled == 0
    assert matching.missing_text() == "dr_lead (1), app_owner (1)"


# --- RTO ---------------------------------------------------------------------------------


def test_rto_met_and_missed_with_the_margin() -> None:
    met = rto_verdict(timedelta(minutes=25), 30)
    assert met is not None
    assert met.met
    assert met.margin == timedelta(minutes=5)
    missed = rto_verdict(timedelta(minutes=42), 30)
    assert missed is not None
    assert not missed.met
    assert missed.margin == timedelta(minutes=12)
    assert rto_verdict(timedelta(minutes=42), None) is None


def test_the_readme_guardrails_example_is_a_valid_policy() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Guardrails", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = Policy.from_yaml(example)
    assert policy.rule("failover").approver_roles == ("dr_lead", "app_owner")
    assert policy.rule("restore").require_check == CheckRule(72, CheckMode.WARN)
    assert (policy.rto_minutes("x", "SAP Tier1"), policy.rto_minutes("x", "CRM")) == (30, 60)
