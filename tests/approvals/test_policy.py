"""The policy file: parsing, errors that name the key, role membership, the built-in policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.approvals.policy import (
    VERBS,
    Policy,
    PolicyError,
    load_policy,
)
from tests.approvals.conftest import FakeGroups

DESIGN_EXAMPLE = """
channels: []                      # channel ids where /vro is allowed; empty = everywhere
roles:                            # members: Slack user ids and/or user-group handles; "*" = anyone
  viewer:   {users: ["*"]}
  operator: {users: [U0OPS1], groups: [dr-operators]}
  approver: {users: [U0LEAD1, U0LEAD2], groups: [dr-approvers]}
defaults: {role: operator, approvals: 1, approver_role: approver, ttl_minutes: 30, reason_required: false}
actions:                          # per verb; anything not listed takes the defaults
  failover:  {approvals: 2, reason_required: true}
  check:     {approvals: 0}
  enable:    {approvals: 0}
"""


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as caught:
        Policy.from_yaml(text)
    return caught.value.problems


def test_the_design_example_parses_with_per_verb_overrides_and_defaults() -> None:
    policy = Policy.from_yaml(DESIGN_EXAMPLE)
    failover = policy.rule("failover")
    assert (failover.role, failover.approvals, failover.approver_role) == ("operator", 2, "approver")
    assert failover.reason_required is True
    assert policy.rule("check").approvals == 0
    halt = policy.rule("halt")  # not listed: the defaults
    assert (halt.approvals, halt.ttl_minutes, halt.reason_required) == (1, 30, False)


def test_unknown_verb_is_an_error_naming_the_key_and_the_known_verbs() -> None:
    text = DESIGN_EXAMPLE.replace("failover:  {", "failovr:  {")
    assert _problems(text) == (f"actions.failovr: unknown verb; known verbs: {', '.join(VERBS)}",)
    with pytest.raises(PolicyError, match=r"^policy file: actions\.failovr: unknown verb"):
        Policy.from_yaml(text)


def test_unknown_key_is_an_error_naming_the_key_and_the_known_keys() -> None:
    assert _problems("roles:\n  viewer: {user: ['*']}\n") == (
        "roles.viewer.user: unknown key; known keys: users, groups",
    )
    assert _problems("approvers: 2\n") == (
        "approvers: unknown key; known keys: channels, roles, defaults, actions, plans",
    )
    assert _problems("defaults: {approval: 2}\n") == (
        "defaults.approval: unknown key; known keys: role, approvals, approver_role, ttl_minutes, reason_required, rto_minutes",
    )


def test_unknown_role_is_an_error_naming_the_key_and_the_known_roles() -> None:
    text = DESIGN_EXAMPLE.replace("check:     {approvals: 0}", "check:     {approvals: 0, role: admin}")
    assert _problems(text) == (
        "actions.check.role: unknown role 'admin'; known roles: approver, operator, viewer",
    )
    text = DESIGN_EXAMPLE.replace("approver_role: approver", "approver_role: lead")
    assert _problems(text) == (
        "defaults.approver_role: unknown role 'lead'; known roles: approver, operator, viewer",
    )


def test_bad_values_are_errors_naming_the_key() -> None:
    assert _problems("defaults: {approvals: -1, ttl_minutes: zero, reason_required: maybe}\n") == (
        "defaults.approvals: must be at least 0",
        "defaults.ttl_minutes: must be a whole number",
        "defaults.reason_required: must be true or false",
    )


def test_user_ids_group_handles_and_channel_ids_are_checked() -> None:
    text = (
        "channels: [C0INCIDENT, general]\n"
        "roles:\n  viewer: {users: ['*', bob], groups: ['dr team']}\n"
        "defaults: {role: viewer, approver_role: viewer}\n"
    )
    assert _problems(text) == (
        "channels[1]: 'general' is not a channel id (like C0123ABCD)",
        "roles.viewer.users[1]: 'bob' is not a Slack user id (like U0123ABCD) or \"*\"",
        "roles.viewer.groups[0]: 'dr team' is not a user-group handle (like dr-operators)",
    )


def test_a_policy_without_the_viewer_role_is_refused() -> None:
    text = "roles:\n  operator: {users: ['*']}\n  approver: {users: ['*']}\n"
    assert _problems(text) == ('roles.viewer: missing; queries need it (users: ["*"] lets anyone query)',)


def test_invalid_yaml_and_a_non_mapping_are_reported() -> None:
    assert _problems("roles: [")[0].startswith("not valid YAML (line 1")
    assert _problems("- a\n- b\n") == (
        "must be a mapping with keys channels, roles, defaults, actions, plans",
    )


def test_a_key_given_twice_is_an_error_not_the_last_one_silently_winning() -> None:
    # PyYAML keeps the last duplicate: the second `failover` would drop the quorum of 2 to 1.
    text = DESIGN_EXAMPLE + "  failover:  {reason_required: true}\n"
    assert _problems(text) == (
        "not valid YAML (line 12, column 3): the key 'failover' is given twice in one mapping; keep one",
    )
    twice_in_one_rule = "actions:\n  failover: {approvals: 2, approvals: 1}\n"
    assert "the key 'approvals' is given twice" in _problems(twice_in_one_rule)[0]
    anchors = "defaults: &d {ttl_minutes: 10}\nactions:\n  enable: {<<: *d, approvals: 0}\n"
    assert Policy.from_yaml(anchors).rule("enable").ttl_minutes == 10


def test_load_policy_names_the_file_in_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("actions:\n  failovr: {}\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=rf"^policy file {path}: actions\.failovr: unknown verb"):
        load_policy(path)
    with pytest.raises(PolicyError, match="cannot read it"):
        load_policy(tmp_path / "missing.yml")


def test_an_empty_file_and_a_null_action_take_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("", encoding="utf-8")
    assert load_policy(path).rule("failover") == Policy.builtin().rule("failover")
    assert Policy.from_yaml("actions:\n  enable:\n").rule("enable").approvals == 1


def test_builtin_policy_lets_anyone_query_and_request_and_needs_one_other_approver() -> None:
    policy = Policy.builtin()
    for verb in VERBS:
        rule = policy.rule(verb)
        assert rule.approvals == 1
        assert policy.role_is_open(rule.role)
        assert policy.role_is_open(rule.approver_role)
    assert policy.role_is_open("viewer")
    assert policy.channel_allowed("C0ANY")


def test_rule_of_a_verb_that_is_not_an_action_is_an_error() -> None:
    with pytest.raises(PolicyError, match="status: unknown verb"):
        Policy.builtin().rule("status")


def test_channel_allow_list() -> None:
    policy = Policy.from_yaml("channels: [C0INCIDENT]\n")
    assert policy.channel_allowed("C0INCIDENT")
    assert not policy.channel_allowed("C0RANDOM")


async def test_roles_by_user_id_by_group_handle_and_by_star() -> None:
    policy = Policy.from_yaml(DESIGN_EXAMPLE.replace("[dr-approvers]", "['@dr-approvers']"))
    groups = FakeGroups({"dr-operators": {"U0GROUPOP"}, "dr-approvers": {"U0GROUPLEAD"}})
    assert await policy.has_role("U0OPS1", "operator", groups)
    assert await policy.has_role("U0GROUPOP", "operator", groups)
    assert not await policy.has_role("U0GROUPLEAD", "operator", groups)
    assert await policy.has_role("U0GROUPLEAD", "approver", groups)  # handle given with '@'
    assert await policy.has_role("U0ANYONE", "viewer", groups)
    assert not await policy.has_role("U0OPS1", "no-such-role", groups)


async def test_listed_users_are_answered_without_asking_for_groups() -> None:
    policy = Policy.from_yaml(DESIGN_EXAMPLE)
    groups = FakeGroups()
    assert await policy.has_role("U0LEAD1", "approver", groups)
    assert groups.lookups == 0


def test_a_policy_error_is_a_configuration_error_so_vro_bot_stops_with_its_message() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=r"^policy file: actions\.failovr: unknown verb"):
        Policy.from_yaml("actions: {failovr: {}}")


def test_a_quorum_no_one_could_ever_give_is_an_error() -> None:
    """Three approvals from a role that lists two people would hold a failover forever."""
    lists_two = "roles:\n  viewer: {users: ['*']}\n  operator: {users: ['*']}\n  approver: {users: [U0LEAD1, U0LEAD2]}\n"
    assert _problems(lists_two + "actions:\n  failover: {approvals: 3}\n") == (
        "actions.failover.approvals: 3 approvals from role 'approver', which lists only 2 users and no "
        "groups: it could never be approved; lower the count or add approvers",
    )
    assert _problems(lists_two + "defaults: {approvals: 3}\nactions:\n  check: {approvals: 0}\n") == (
        "defaults.approvals: 3 approvals from role 'approver', which lists only 2 users and no "
        "groups: it could never be approved; lower the count or add approvers",
    )
    two_teams = (
        "roles:\n  viewer: {users: ['*']}\n  operator: {users: ['*']}\n  approver: {users: ['*']}\n"
        "  dr_lead: {users: [U0LEAD1]}\n  app_owner: {users: [U0LEAD1]}\n"
        "actions:\n  failover: {approvals: {all_of: [{role: dr_lead, count: 1}, {role: app_owner, count: 1}]}}\n"
    )
    assert _problems(two_teams) == (
        "actions.failover.approvals: 2 distinct approvers in all, but its roles list only 1 user and "
        "no groups: it could never be approved",
    )


def test_a_quorum_a_group_or_anyone_could_meet_is_accepted() -> None:
    roles = "roles:\n  viewer: {users: ['*']}\n  operator: {users: ['*']}\n"
    for approver in ("{users: [U0LEAD1], groups: [dr-approvers]}", "{users: ['*']}"):
        Policy.from_yaml(roles + f"  approver: {approver}\nactions:\n  failover: {{approvals: 3}}\n")
    Policy.from_yaml(
        roles + "  approver: {users: [U0LEAD1, U0LEAD2]}\nactions:\n  failover: {approvals: 2}\n"
    )


def test_numbers_and_yes_no_must_be_written_as_such_not_guessed() -> None:
    """YAML's `true` is not one approval, and `"2"` or `"yes"` are slips to point at."""
    text = (
        "defaults: {approvals: true, ttl_minutes: '30', reason_required: 'yes', rto_minutes: 60.0}\n"
        "actions:\n  failover: {require_check: {max_age_hours: true}}\n"
    )
    assert _problems(text) == (
        "defaults.approvals: must be a whole number or {all_of: [{role: ..., count: ...}]}",
        "defaults.ttl_minutes: must be a whole number",
        "defaults.reason_required: must be true or false",
        "defaults.rto_minutes: must be a whole number",
        "actions.failover.require_check.max_age_hours: must be a number",
    )
