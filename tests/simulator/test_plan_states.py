"""The plan state table: what is allowed when, and how refusals read."""

from __future__ import annotations

import pytest

from bot.vro import plan_states as ps
from bot.vro.models import PlanMode, PlanType


def test_enabled_ready_replica_plan_can_fail_over_check_disable_schedule_and_clone() -> None:
    allowed = ps.allowed_actions(PlanType.REPLICA, ps.READY, PlanMode.ENABLED)
    assert allowed == {
        ps.FAILOVER,
        ps.READINESS_CHECK,
        ps.DISABLE,
        ps.SCHEDULE_AT,
        ps.SCHEDULE_AFTER,
        ps.DELETE_SCHEDULE,
        ps.CLONE,
    }


def test_disabled_plan_can_only_be_enabled_checked_scanned_cleared_or_cloned() -> None:
    allowed = ps.allowed_actions(PlanType.RESTORE, ps.READY, PlanMode.DISABLED)
    assert allowed == {
        ps.ENABLE,
        ps.READINESS_CHECK,
        ps.MALWARE_SCAN,
        ps.RESET_CHANGE_LOG,
        ps.DELETE_SCHEDULE,
        ps.CLONE,
    }


def test_failover_of_a_disabled_plan_is_refused_with_a_hint_to_enable() -> None:
    reason = ps.refusal_reason(PlanType.REPLICA, ps.READY, PlanMode.DISABLED, ps.FAILOVER, plan_name="X")
    assert reason == "Failover is not possible while plan 'X' is Disabled; enable it first."


def test_restore_of_a_replica_plan_is_refused_naming_state_and_type() -> None:
    reason = ps.refusal_reason(PlanType.REPLICA, ps.READY, PlanMode.ENABLED, ps.RESTORE, plan_name="X")
    assert reason is not None
    assert "Ready" in reason
    assert "Replica plan" in reason


def test_continue_is_only_for_halted_plans() -> None:
    reason = ps.refusal_reason(PlanType.REPLICA, ps.FAILOVER_COMPLETE, PlanMode.IN_USE, ps.CONTINUE)
    assert reason == "Continue is only possible for a halted plan, and the plan is in Failover state."
    assert ps.refusal_reason(PlanType.REPLICA, ps.HALTED, PlanMode.IN_USE, ps.CONTINUE) is None


def test_running_plan_refuses_everything_but_halt_and_clone() -> None:
    allowed = ps.allowed_actions(PlanType.STORAGE, ps.FAILOVER_IN_PROGRESS, PlanMode.IN_USE)
    assert allowed == {ps.HALT, ps.CLONE}
    reason = ps.refusal_reason(PlanType.STORAGE, ps.FAILOVER_IN_PROGRESS, PlanMode.IN_USE, ps.UNDO)
    assert reason is not None
    assert "Failover in progress" in reason
    assert "halt" in reason


def test_undo_never_applies_to_restore_plans() -> None:
    for state in ps.STATE_INFO:
        for mode in (PlanMode.ENABLED, PlanMode.DISABLED, PlanMode.IN_USE):
            assert not ps.is_undo_possible(PlanType.RESTORE, state, mode)
            assert not ps.is_undo_possible(PlanType.CLOUD, state, mode)


def test_replica_failover_path_offers_reversal() -> None:
    assert ps.is_reverse_possible(PlanType.REPLICA, ps.FAILOVER_COMPLETE, PlanMode.IN_USE)
    assert ps.is_undo_possible(PlanType.REPLICA, ps.FAILOVER_COMPLETE, PlanMode.IN_USE)
    assert not ps.is_reverse_possible(PlanType.STORAGE, ps.FAILOVER_COMPLETE, PlanMode.IN_USE)


def test_reset_returns_to_ready_and_disabled() -> None:
    rule = ps.find_rule(PlanType.RESTORE, ps.RESTORE_COMPLETE, PlanMode.IN_USE, ps.RESET_STATE)
    assert rule is not None
    assert (rule.enters, rule.ends, rule.mode_after) == (None, ps.READY, PlanMode.DISABLED)


def test_failover_enters_in_progress_and_ends_complete_in_use() -> None:
    rule = ps.find_rule(PlanType.CDP_REPLICA, ps.READY, PlanMode.ENABLED, ps.FAILOVER)
    assert rule is not None
    assert (rule.enters, rule.ends, rule.mode_after) == (
        ps.FAILOVER_IN_PROGRESS,
        ps.FAILOVER_COMPLETE,
        PlanMode.IN_USE,
    )


def test_names_and_modes_accept_any_casing() -> None:
    assert ps.FAILOVER in ps.allowed_actions("replica", ps.READY, "enabled")
    assert ps.refusal_reason("REPLICA", ps.READY, "ENABLED", "failover") is None
    assert ps.refusal_reason(PlanType.REPLICA, ps.READY, "In-Use", ps.DISABLE) is not None


def test_unknown_action_is_refused_by_name() -> None:
    reason = ps.refusal_reason(PlanType.REPLICA, ps.READY, PlanMode.ENABLED, "Explode")
    assert reason is not None
    assert "'Explode'" in reason


@pytest.mark.parametrize(
    ("state", "name", "order", "running"),
    [
        (ps.RESTORE_COMPLETE, "Restored", "300. Restored", False),
        (ps.READY, "Ready", "100. Ready", False),
        (ps.FAILOVER_IN_PROGRESS, "Failover in progress", "200. Failover in progress", True),
        (ps.HALTING, "Halting", "900. Halting", True),
    ],
)
def test_display_names_orders_and_running(state: str, name: str, order: str, running: bool) -> None:
    assert ps.display_name(state) == name
    assert ps.state_order(state) == order
    assert ps.is_running(state) is running
    assert ps.is_stable(state) is not running


def test_seed_stable_name_of_restore_complete_is_restore() -> None:
    assert ps.stable_display_name(ps.RESTORE_COMPLETE) == "Restore"


def test_unknown_states_are_shown_readably_and_guessed_by_suffix() -> None:
    assert ps.display_name("TestingHalted") == "Testing Halted"
    assert ps.is_running("VerifyInProgress")
    assert ps.is_stable("TestingHalted")


def test_every_refusal_names_the_current_state() -> None:
    for plan_type in PlanType.ALL:
        for state in ps.STATE_INFO:
            for mode in (PlanMode.ENABLED, PlanMode.DISABLED, PlanMode.IN_USE):
                for action in ps.ALL_ACTIONS:
                    reason = ps.refusal_reason(plan_type, state, mode, action)
                    allowed = action in ps.allowed_actions(plan_type, state, mode)
                    assert (reason is None) == allowed
                    if reason is not None:
                        assert ps.display_name(state) in reason or ps.mode_display_name(mode) in reason


def test_every_rule_targets_known_states() -> None:
    for rule in ps.RULES:
        for target in (rule.enters, rule.ends):
            assert target is None or target == ps.RESUME_HALTED or target in ps.STATE_INFO
        assert rule.from_states <= set(ps.STATE_INFO)


def test_enabling_an_enabled_plan_says_it_already_is() -> None:
    reason = ps.refusal_reason(PlanType.CLOUD, ps.READY, PlanMode.ENABLED, ps.ENABLE, plan_name="X")
    assert reason == "Enable is not possible: plan 'X' is already Enabled."


def test_a_halting_plan_asks_to_wait_rather_than_halt() -> None:
    reason = ps.refusal_reason(PlanType.REPLICA, ps.HALTING, PlanMode.IN_USE, ps.CONTINUE, plan_name="X")
    assert reason == "Continue is not possible while plan 'X' is Halting; wait a moment for it to stop."


def test_the_actions_possible_instead_are_named_as_vro_names_them_unless_told_otherwise() -> None:
    reason = ps.refusal_reason(PlanType.REPLICA, ps.READY, PlanMode.ENABLED, ps.HALT, plan_name="X")
    assert reason is not None
    assert "ReadinessCheck" in reason
    verbs = ps.refusal_reason(
        PlanType.REPLICA, ps.READY, PlanMode.ENABLED, ps.HALT, plan_name="X", name_action=lambda a: a[0]
    )
    assert verbs is not None
    assert verbs.endswith("possible now: D, F, R, S.")
