"""The pure snapshot diff: which events come out of which RuntimeDetails changes, in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.vro.models import ContinueOption, ExecutionDetail
from bot.watcher.diff import Event, advance
from bot.watcher.snapshot import Observation, Snapshot, group_key, step_key, vm_key
from tests.watcher.builders import group, plan, result, step, vm

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
G1 = group_key("g1")
VM1 = vm_key("v1")


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def kinds(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.scope, e.name) for e in events]


def running_obs(seconds: int, step_state: str = "Running", **kw: object) -> Observation:
    """A failover in progress: one group, one VM, two steps."""
    s1_res = result("Success", start=at(0), finish=at(2)) if step_state != "Running" else None
    return Observation(
        plan=plan("FailoverInProgress", progress=10),
        at=at(seconds),
        groups=[group("g1", "Web tier", "Running", progress=10)],
        vms={G1: [vm("v1", "web-01", "Running", progress=10)]},
        steps={VM1: [step("s1", "Check license", step_state, res=s1_res), step("s2", "Power on")]},
    )


def test_first_poll_of_a_running_plan_narrates_plan_group_vm_and_step_starting_in_tree_order() -> None:
    snap, events = advance(Snapshot(), running_obs(0))
    assert kinds(events) == [
        ("plan_state", "plan", "SAP Tier1"),
        ("started", "group", "Web tier"),
        ("started", "vm", "web-01"),
        ("started", "step", "Check license"),
    ]
    assert events[0].text == "Failover in progress"
    assert events[3].vm == "web-01"
    assert events[3].group == "Web tier"
    assert snap.seen_running
    assert snap.items[step_key(VM1, "s2")].phase == "pending"


def test_nothing_changed_means_no_events() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    again, events = advance(snap, running_obs(5))
    assert events == []
    assert again.items == snap.items


def test_advance_never_mutates_the_old_snapshot() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    before = snap.to_json()
    advance(snap, running_obs(5, step_state="Completed"))
    assert snap.to_json() == before


def test_step_finishing_with_a_warning_yields_completion_then_the_friendly_info() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = running_obs(5)
    obs.steps[VM1][0] = step(
        "s1",
        "Check license",
        "Completed",
        res=result("Warning", ("Warning", "VM license expires soon"), finish=at(4)),
    )
    _, events = advance(snap, obs)
    assert kinds(events) == [("completed", "step", "Check license"), ("issue", "step", "Check license")]
    assert events[0].result == "Warning"
    assert events[1].severity == "Warning"
    assert events[1].text == "VM license expires soon"


def test_step_details_fetched_separately_add_their_warning_once() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = running_obs(5)
    obs.steps[VM1][0] = step("s1", "Check license", "Completed", res=result("Warning", finish=at(4)))
    obs.step_details[step_key(VM1, "s1")] = [
        ExecutionDetail(friendlyInfo="[License] 2 days left", severity="Warning"),
        ExecutionDetail(friendlyInfo="[Sequence] fine", severity="Success"),
    ]
    snap2, events = advance(snap, obs)
    assert [(e.kind, e.text) for e in events] == [("completed", None), ("issue", "[License] 2 days left")]
    assert snap2.items[step_key(VM1, "s1")].details_fetched
    # The same details read again (another poll) add nothing.
    _, again = advance(snap2, obs)
    assert again == []


def test_a_vm_repeating_its_steps_warning_does_not_report_it_twice() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = running_obs(5)
    warn = result("Warning", ("Warning", "Disk slow"), finish=at(4))
    obs.steps[VM1] = [
        step("s1", "Check license", "Completed", res=warn),
        step("s2", "Power on", "Completed", res=result("Success")),
    ]
    obs.vms[G1] = [vm("v1", "web-01", "Completed", progress=100, res=warn)]
    _, events = advance(snap, obs)
    issues = [e for e in events if e.kind == "issue"]
    assert [(e.scope, e.text) for e in issues] == [("step", "Disk slow")]
    assert kinds(events)[-1] == ("completed", "vm", "web-01")


def test_a_step_first_seen_finished_is_narrated_as_finished_without_a_fake_start() -> None:
    obs = running_obs(0, step_state="Completed")
    _, events = advance(Snapshot(), obs)
    step_events = [e for e in events if e.scope == "step"]
    assert [(e.kind, e.name) for e in step_events] == [("completed", "Check license")]


def test_skipped_and_failed_steps_are_named_as_such() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = running_obs(5)
    obs.steps[VM1] = [
        step("s1", "Check license", "Failed", res=result("Error", ("Error", "License missing"))),
        step("s2", "Power on", "Skipped"),
    ]
    _, events = advance(snap, obs)
    assert [(e.kind, e.name, e.text) for e in events] == [
        ("failed", "Check license", None),
        ("issue", "Check license", "License missing"),
        ("skipped", "Power on", None),
    ]


def test_runtime_reset_is_noticed_once_and_keeps_what_was_known() -> None:
    snap, _ = advance(Snapshot(), running_obs(0, step_state="Completed"))
    wiped = Observation(
        plan=plan("FailoverInProgress", progress=0, executionState="NotStarted"),
        at=at(10),
        groups=[group("g1", "Web tier")],
        vms={G1: [vm("v1", "web-01")]},
        steps={VM1: [step("s1", "Check license"), step("s2", "Power on")]},
    )
    after, events = advance(snap, wiped)
    assert [e.kind for e in events] == ["runtime_reset"]
    assert after.items[step_key(VM1, "s1")].phase == "completed"
    assert after.items[G1].phase == "running"
    again, events = advance(after, wiped)
    assert events == []
    # VRO carries on: the next real transition is narrated, nothing else.
    resumed = running_obs(20, step_state="Completed")
    resumed.steps[VM1][1] = step("s2", "Power on", "Running")
    _, events = advance(again, resumed)
    assert kinds(events) == [("started", "step", "Power on")]


def test_an_empty_runtime_after_a_reboot_emits_nothing_but_the_reset_notice() -> None:
    snap, _ = advance(Snapshot(), running_obs(0, step_state="Completed"))
    wiped = Observation(
        plan=plan("FailoverInProgress", progress=0, executionState="NotStarted"), at=at(10), groups=[]
    )
    after, events = advance(snap, wiped)
    assert [e.kind for e in events] == ["runtime_reset"]
    assert after.items == snap.items
    assert not after.finished


def halted_obs(seconds: int) -> Observation:
    return Observation(
        plan=plan("Halted", progress=40, undo=True),
        at=at(seconds),
        groups=[group("g1", "Web tier", "Failed")],
        vms={G1: [vm("v1", "web-01", "Failed")]},
        steps={
            VM1: [
                step(
                    "s1",
                    "Check license",
                    "Failed",
                    res=result("Error", ("Error", "No license"), finish=at(5)),
                ),
                step("s2", "Power on"),
            ]
        },
    )


def test_a_halt_offers_retry_and_proceed_options_and_undo_after_the_failure() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    halted, events = advance(snap, halted_obs(5))
    halt = events[-1]
    assert halt.kind == "plan_halted"
    assert halt.previous == "Check license"
    assert halt.vm == "web-01"
    assert ContinueOption.RETRY_FAILED_STEP in halt.options
    assert ContinueOption.PROCEED_TO_NEXT_VM in halt.options
    assert halt.undo is True
    assert not halted.finished
    # Still halted next poll: no second halt message.
    _, again = advance(halted, halted_obs(10))
    assert again == []


def test_a_user_halt_without_failure_offers_only_proceed_options() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = Observation(plan=plan("Halted", progress=10, undo=False), at=at(5))
    _, events = advance(snap, obs)
    halt = events[-1]
    assert halt.kind == "plan_halted"
    assert set(halt.options) == {
        ContinueOption.PROCEED_TO_NEXT_STEP,
        ContinueOption.PROCEED_TO_NEXT_VM,
        ContinueOption.PROCEED_TO_NEXT_GROUP,
    }
    assert halt.undo is False


def test_continue_after_halt_resumes_and_a_retried_step_starts_again() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    halted, _ = advance(snap, halted_obs(5))
    retry = Observation(
        plan=plan("FailoverInProgress", progress=45),
        at=at(20),
        groups=[group("g1", "Web tier", "Running")],
        vms={G1: [vm("v1", "web-01", "Running")]},
        steps={VM1: [step("s1", "Check license", "Running"), step("s2", "Power on")]},
    )
    after, events = advance(halted, retry)
    assert [e.kind for e in events[:2]] == ["plan_state", "plan_resumed"]
    started = [e for e in events if e.kind == "started"]
    assert [(e.scope, e.retry) for e in started] == [("group", True), ("vm", True), ("step", True)]
    # The first failure is not reported again; a second failure (a new time) would be.
    assert not [e for e in events if e.kind == "issue"]
    again = Observation(
        plan=plan("Halted", progress=45, undo=True),
        at=at(30),
        steps={
            VM1: [
                step(
                    "s1",
                    "Check license",
                    "Failed",
                    res=result("Error", ("Error", "No license"), finish=at(29)),
                )
            ]
        },
    )
    again.steps[VM1][0].executionResult.details[0].timestamp = at(29)  # type: ignore[union-attr]
    _, events = advance(after, again)
    assert [(e.kind, e.text) for e in events if e.scope == "step"] == [
        ("failed", None),
        ("issue", "No license"),
    ]


def test_the_run_finishing_yields_one_finished_event_with_vros_result() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    done = Observation(
        plan=plan(
            "FailoverComplete",
            progress=100,
            result_name="Complete, no errors, 1 warning",
            run_result="Warning",
        ),
        at=at(30),
    )
    after, events = advance(snap, done)
    assert [e.kind for e in events] == ["plan_state", "finished"]
    assert events[0].previous == "Failover in progress"
    assert events[1].text == "Failover"
    assert events[1].result == "Warning"
    assert events[1].previous == "Complete, no errors, 1 warning"
    assert after.finished
    _, again = advance(after, done)
    assert again == []


def test_a_stable_plan_is_waited_for_not_finished() -> None:
    baseline = plan("Ready")
    snap, events = advance(Snapshot(), Observation(plan=plan("Ready"), at=at(0)), baseline=baseline)
    assert events == []
    snap, events = advance(snap, Observation(plan=plan("Ready"), at=at(60)), baseline=baseline)
    assert events == []
    assert not snap.finished


def test_a_run_that_started_and_ended_between_two_polls_still_finishes() -> None:
    baseline = plan("FailoverComplete", progress=100)
    snap, _ = advance(
        Snapshot(), Observation(plan=plan("FailoverComplete", progress=100), at=at(0)), baseline=baseline
    )
    undone = Observation(plan=plan("UndoFailoverComplete", progress=100), at=at(30))
    after, events = advance(snap, undone, baseline=baseline)
    assert [e.kind for e in events] == ["plan_state", "finished"]
    assert after.finished


# VRO's clock, months behind the bot's: only VRO's own times are ever compared.
VRO_PAST = T0 - timedelta(days=120)


def test_a_readiness_check_that_ends_in_its_starting_state_is_reported_with_its_result() -> None:
    before = plan(
        "Ready", execution=result("Success", start=VRO_PAST, finish=VRO_PAST + timedelta(minutes=2))
    )
    after_check = plan(
        "Ready",
        progress=100,
        result_name="Complete, 1 warning",
        execution=result(
            "Warning", start=VRO_PAST + timedelta(hours=1), finish=VRO_PAST + timedelta(hours=1, seconds=9)
        ),
    )
    snap, events = advance(Snapshot(), Observation(plan=after_check, at=at(0)), baseline=before)
    assert [e.kind for e in events] == ["finished"]
    assert events[0].result == "Warning"
    assert snap.finished


def test_a_plan_whose_vro_data_match_the_baseline_has_not_run_whatever_the_clocks_say() -> None:
    before = plan("Ready", execution=result("Success", start=VRO_PAST, finish=VRO_PAST))
    same = plan("Ready", execution=result("Success", start=VRO_PAST, finish=VRO_PAST))
    snap, events = advance(Snapshot(), Observation(plan=same, at=at(3600)), baseline=before)
    assert events == []
    assert not snap.finished


def test_a_first_run_that_left_no_start_time_in_the_baseline_counts_once_its_times_appear() -> None:
    before = plan("Ready")
    done = plan("Ready", execution=result("Success", start=VRO_PAST, finish=VRO_PAST))
    _, events = advance(Snapshot(), Observation(plan=done, at=at(5)), baseline=before)
    assert [e.kind for e in events] == ["finished"]


def test_snapshot_survives_a_json_round_trip() -> None:
    snap, _ = advance(Snapshot(), halted_obs(0))
    assert Snapshot.from_json(snap.to_json()) == snap
    assert Snapshot.from_json(None) == Snapshot()


def test_virtual_group_steps_are_narrated_under_their_group() -> None:
    vg = group_key("vg")
    obs = Observation(
        plan=plan("FailoverInProgress", progress=5),
        at=at(0),
        groups=[group("vg", "Pre-failover checks", "Running", virtual=True)],
        steps={vg: [step("x", "Send email", "Completed", res=result("Success"))]},
    )
    _, events = advance(Snapshot(), obs)
    assert kinds(events)[1:] == [
        ("started", "group", "Pre-failover checks"),
        ("completed", "step", "Send email"),
    ]
    assert events[-1].group == "Pre-failover checks"
    assert events[-1].vm is None


@pytest.mark.parametrize(
    ("state", "outcome", "kind", "said"),
    [
        ("Completed", "Failed", "failed", "Error"),
        ("Completed", "CompletedWithErrors", "failed", "Error"),
        ("Completed", "Warnings", "completed", "Warning"),
        ("Completed", "succeeded", "completed", "Success"),
        ("Warning", None, "completed", "Warning"),
        ("CompletedWithWarnings", "Warning", "completed", "Warning"),
        ("Finalized", "Success", "completed", "Success"),  # an unknown state with a final result
    ],
)
def test_result_and_state_spellings_are_read_for_what_they_mean(
    state: str, outcome: str | None, kind: str, said: str
) -> None:
    """A ``Failed`` result is no success, and a step VRO finished under another name is no
    longer running: the thread, the card and the summary count it as VRO does."""
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = running_obs(5)
    obs.steps[VM1][0] = step("s1", "Check license", state, res=result(outcome, finish=at(4)))
    after, events = advance(snap, obs)
    assert [(e.kind, e.result) for e in events] == [(kind, said)]
    assert after.items[step_key(VM1, "s1")].result == said


def test_a_running_spelling_with_a_stale_result_still_runs() -> None:
    snap, _ = advance(Snapshot(), running_obs(0))
    obs = running_obs(5)
    obs.steps[VM1][0] = step("s1", "Check license", "Retrying", res=result("Error", finish=at(4)))
    after, events = advance(snap, obs)
    assert events == []
    assert after.items[step_key(VM1, "s1")].phase == "running"


def test_steps_back_to_not_started_for_a_retry_are_no_runtime_reset() -> None:
    """Continue with RetryFailedVm puts the VM's steps back to NotStarted while the plan runs
    on: that is the retry starting, not VRO's RuntimeDetails wiped by a restart."""
    snap, _ = advance(Snapshot(), running_obs(0))
    halted, _ = advance(snap, halted_obs(5))
    retry = Observation(
        plan=plan("FailoverInProgress", progress=45),
        at=at(20),
        groups=[group("g1", "Web tier", "Running", progress=45)],
        vms={G1: [vm("v1", "web-01", "Running", progress=5)]},
        steps={VM1: [step("s1", "Check license"), step("s2", "Power on")]},
    )
    after, events = advance(halted, retry)
    assert "runtime_reset" not in [e.kind for e in events]
    assert [e.kind for e in events[:2]] == ["plan_state", "plan_resumed"]
    assert not after.reset_noticed
    # The retried step then runs again, and is narrated so.
    again = Observation(
        plan=plan("FailoverInProgress", progress=50),
        at=at(25),
        groups=[group("g1", "Web tier", "Running", progress=50)],
        vms={G1: [vm("v1", "web-01", "Running", progress=10)]},
        steps={VM1: [step("s1", "Check license", "Running"), step("s2", "Power on")]},
    )
    _, events = advance(after, again)
    assert [(e.kind, e.name, e.retry) for e in events] == [("started", "Check license", True)]
