"""Rendering: compact batched thread messages, halt buttons, status card, summary (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.slack.blocks.kit import CONTINUE_ACTION_PREFIX, MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, UNDO_ACTION_ID
from bot.slack.blocks.validate import validate_blocks
from bot.vro.models import ContinueOption
from bot.watcher.diff import Event, advance
from bot.watcher.render import (
    WatchInfo,
    status_card,
    summary_messages,
    thread_messages,
)
from bot.watcher.snapshot import Observation, Snapshot, group_key, vm_key
from tests.watcher.builders import group, plan, result, step, vm

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
INFO = WatchInfo(
    plan_id="p1", plan_name="SAP Tier1", action="Failover", requested_by="U1", approved_by=("U2", "U3")
)


def texts(blocks: object) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def step_events(vm_name: str, steps: list[str]) -> list[Event]:
    out = [Event(kind="started", scope="vm", name=vm_name, key=f"v:{vm_name}")]
    for name in steps:
        key = f"s:{vm_name}/{name}"
        out.append(Event(kind="started", scope="step", name=name, vm=vm_name, key=key))
        out.append(Event(kind="completed", scope="step", name=name, vm=vm_name, key=key, result="Success"))
    out.append(Event(kind="completed", scope="vm", name=vm_name, key=f"v:{vm_name}", result="Success"))
    return out


def test_the_steps_of_one_vm_share_one_line_and_a_started_then_finished_step_shows_once() -> None:
    (message,) = thread_messages(step_events("web-01", ["Check license", "Power on"]), info=INFO)
    (section,) = message.blocks
    line = section["text"]["text"]
    assert line == "*web-01*: started · ✓ Check license · ✓ Power on · done ✓"
    validate_blocks(message.blocks)


def test_a_message_s_notification_text_counts_what_it_tells() -> None:
    (steps,) = thread_messages(step_events("web-01", ["Check license", "Power on"]), info=INFO)
    assert steps.text == "SAP Tier1: 4 step updates"
    vms_only = [
        Event(kind="started", scope="group", name="Web", key="g:1"),
        Event(kind="started", scope="vm", name="web-01", group="Web", key="v:1"),
    ]
    (message,) = thread_messages(vms_only, info=INFO)
    assert message.text == "SAP Tier1: 2 updates"  # not "0 step updates"


def test_a_step_still_running_at_the_end_of_the_window_shows_as_started() -> None:
    events = [Event(kind="started", scope="step", name="Power on", vm="web-01", key="s:1")]
    (message,) = thread_messages(events, info=INFO)
    assert "▸ Power on" in texts(message.blocks)


def test_warnings_and_errors_get_their_own_line_with_vros_text() -> None:
    events = [
        Event(kind="completed", scope="step", name="Verify", vm="web-01", key="s:1", result="Warning"),
        Event(
            kind="issue", scope="step", name="Verify", vm="web-01", severity="Warning", text="Site slow <5s>"
        ),
        Event(kind="failed", scope="step", name="Ping", vm="web-02", key="s:2", result="Error"),
        Event(kind="issue", scope="step", name="Ping", vm="web-02", severity="Error", text="No reply"),
    ]
    (message,) = thread_messages(events, info=INFO)
    lines = message.blocks[0]["text"]["text"].splitlines()
    assert lines == [
        "*web-01*: ⚠ Verify",
        "⚠️ web-01 › Verify: Site slow &lt;5s&gt;",
        "*web-02*: ✗ Ping",
        "❌ web-02 › Ping: No reply",
    ]


def test_a_thousand_vms_fit_in_a_few_messages_within_block_kit_limits_and_lose_no_step() -> None:
    names = [
        "Check license and availability",
        "Process Replica VM",
        "Power On VM",
        "Check VM Heartbeat",
        "Verify VM Ping",
    ]
    events = [e for i in range(1000) for e in step_events(f"vm-{i:04d}", names)]
    messages = thread_messages(events, info=INFO)
    assert 1 < len(messages) <= 20
    body = ""
    for message in messages:
        assert len(message.blocks) <= MAX_MESSAGE_BLOCKS
        assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in message.blocks)
        validate_blocks(message.blocks)
        body += texts(message.blocks)
    for i in range(1000):
        assert (
            body.count(f"*vm-{i:04d}*: started · ✓ Check license and availability · ✓ Process Replica VM")
            == 1
        )


def test_a_halt_offers_each_continue_option_and_undo_as_buttons_for_the_approval_flow() -> None:
    halt = Event(
        kind="plan_halted",
        seq=7,
        name="SAP Tier1",
        previous="Verify SQL",
        vm="sap-db-01",
        options=(ContinueOption.RETRY_FAILED_STEP, ContinueOption.PROCEED_TO_NEXT_VM),
        undo=True,
    )
    (message,) = thread_messages([halt], info=INFO)
    validate_blocks(message.blocks)
    assert "after *Verify SQL* failed on sap-db-01" in message.blocks[0]["text"]["text"]
    buttons = message.blocks[1]["elements"]
    assert [b["action_id"] for b in buttons] == [
        f"{CONTINUE_ACTION_PREFIX}RetryFailedStep",
        f"{CONTINUE_ACTION_PREFIX}ProceedToNextVm",
        UNDO_ACTION_ID,
    ]
    assert json.loads(buttons[0]["value"]) == {"plan_id": "p1", "option": "RetryFailedStep"}
    assert buttons[2]["style"] == "danger"
    assert "confirm" in buttons[2]
    assert message.text == "SAP Tier1 halted: choose how to continue"


def finished_snapshot() -> Snapshot:
    g1, v1 = group_key("g1"), vm_key("v1")
    start = T0
    running = Observation(
        plan=plan("FailoverInProgress", progress=50, execution=result(None, start=start)),
        at=start,
        groups=[group("g1", "SAP Databases", "Running")],
        vms={g1: [vm("v1", "sap-db-01", "Running")]},
        steps={v1: [step("s1", "Check license", "Running"), step("s2", "Verify SQL")]},
    )
    snap, _ = advance(Snapshot(), running)
    done = Observation(
        plan=plan(
            "FailoverComplete",
            progress=100,
            result_name="Complete, 1 error, 1 warning",
            run_result="Error",
            execution=result("Error", start=start, finish=start + timedelta(minutes=12, seconds=5)),
        ),
        at=start + timedelta(minutes=13),
        groups=[group("g1", "SAP Databases", "Completed")],
        vms={g1: [vm("v1", "sap-db-01", "Completed")]},
        steps={
            v1: [
                step(
                    "s1",
                    "Check license",
                    "Completed",
                    res=result("Warning", ("Warning", "License expires in 3 days")),
                ),
                step(
                    "s2",
                    "Verify SQL",
                    "Completed",
                    res=result("Error", ("Error", "Database in RECOVERY_PENDING")),
                ),
            ]
        },
    )
    snap, _ = advance(snap, done)
    return snap


def test_the_summary_names_plan_action_result_duration_counts_each_issue_and_the_people() -> None:
    (message,) = summary_messages(INFO, finished_snapshot(), now=T0 + timedelta(minutes=13))
    validate_blocks(message.blocks)
    body = texts(message.blocks)
    assert "Failover of SAP Tier1 finished" in body
    assert "*Failover*" in body  # VRO's stateName
    assert "Complete, 1 error, 1 warning" in body  # VRO's resultName
    assert "Duration 12m 05s" in body
    assert "Steps 2/2 (✓ 0 · ⚠ 1 · ✗ 1)" in body
    assert "SAP Databases › sap-db-01 › Check license: License expires in 3 days" in body
    assert "SAP Databases › sap-db-01 › Verify SQL: Database in RECOVERY_PENDING" in body
    assert "Requested by <@U1> · approved by <@U2>, <@U3>" in body
    assert message.text.startswith("Failover of SAP Tier1 finished: Failover")


def test_the_status_card_shows_progress_where_the_run_is_counts_and_time_left() -> None:
    g1, v1 = group_key("g1"), vm_key("v1")
    obs = Observation(
        plan=plan("FailoverInProgress", progress=25, execution=result(None, start=T0)),
        at=T0,
        groups=[group("g1", "SAP Databases", "Running")],
        vms={g1: [vm("v1", "sap-db-01", "Running")]},
        steps={
            v1: [
                step("s1", "Check license", "Completed", res=result("Success")),
                step("s2", "Power on", "Running"),
            ]
        },
    )
    snap, _ = advance(Snapshot(), obs)
    card = status_card(INFO, snap, now=T0 + timedelta(minutes=5))
    validate_blocks(card.blocks)
    body = texts(card.blocks)
    assert "Failover: SAP Tier1" in body
    assert "▓▓▓▓▓░░░░░░░░░░░░░░░` 25%" in body
    assert "*Group:* SAP Databases" in body
    assert "*VM:* sap-db-01" in body
    assert "*Step:* Power on" in body
    assert "Steps 1/2 (✓ 1 · ⚠ 0 · ✗ 0)" in body
    assert "Elapsed 5m 00s · about 15m 00s left" in body
    assert card.text == "Failover: SAP Tier1 (Failover in progress) 25%"


def test_mid_run_the_card_counts_every_vm_of_the_plan_not_only_those_read_so_far() -> None:
    """The watcher reads only what moved: 2 of the plan's 9 VMs here. The card's totals come
    from the counts VRO keeps on each group and VM, so it reads "VMs 1/9", not "VMs 1/2"."""
    g1, g2, v1 = group_key("g1"), group_key("g2"), vm_key("v1")
    db = group("g1", "SAP Databases", "Running").model_copy(update={"successCount": 1, "totalCount": 2})
    apps = group("g2", "SAP Application Servers").model_copy(update={"totalCount": 7})
    done_vm = vm("v1", "sap-db-01", "Completed", res=result("Success")).model_copy(
        update={"successCount": 5, "totalCount": 5}
    )
    running_vm = vm("v2", "sap-db-02", "Running").model_copy(update={"successCount": 1, "totalCount": 5})
    obs = Observation(
        plan=plan("FailoverInProgress", progress=20, execution=result(None, start=T0)),
        at=T0,
        groups=[db, apps],
        vms={g1: [done_vm, running_vm], g2: []},
        steps={v1: [step("s1", "Check license", "Completed", res=result("Success"))]},
    )
    snap, _ = advance(Snapshot(), obs)

    body = texts(status_card(INFO, snap, now=T0 + timedelta(minutes=2)).blocks)

    assert "VMs 1/9 (✓ 1 · ⚠ 0 · ✗ 0)" in body
    assert "Steps 6 done (✓ 6 · ⚠ 0 · ✗ 0)" in body  # 7 VMs not read yet: no step total to show
    assert "VMs 1/2" not in body


def test_a_card_for_a_plan_that_has_not_started_says_it_is_waiting() -> None:
    snap, _ = advance(Snapshot(), Observation(plan=plan("Ready"), at=T0))
    card = status_card(WatchInfo(plan_id="p1", plan_name="SAP Tier1"), snap, now=T0)
    body = texts(card.blocks)
    assert "Watching SAP Tier1" in body
    assert "Waiting for the plan to start" in body


def test_the_summary_says_the_rto_was_met_and_by_how_much() -> None:
    """The run took 12m 05s (VRO's start and finish) against a 15-minute target."""
    info = replace(INFO, rto_minutes=15)
    (message,) = summary_messages(info, finished_snapshot(), now=T0 + timedelta(minutes=13))
    assert "RTO 15m 00s: *met*, 2m 55s to spare" in texts(message.blocks)


def test_the_summary_says_the_rto_was_missed_and_by_how_much() -> None:
    info = replace(INFO, rto_minutes=10)
    (message,) = summary_messages(info, finished_snapshot(), now=T0 + timedelta(minutes=13))
    assert "RTO 10m 00s: *missed* by 2m 05s" in texts(message.blocks)


def test_without_a_target_the_summary_has_no_rto_line() -> None:
    (message,) = summary_messages(INFO, finished_snapshot(), now=T0 + timedelta(minutes=13))
    assert "RTO" not in texts(message.blocks)


def test_the_run_record_carries_vro_times_counts_and_the_verdict_for_the_audit_log() -> None:
    from bot.watcher.runs import run_record

    record = run_record(finished_snapshot(), now=T0 + timedelta(hours=5), rto_minutes=10)
    detail = record.audit_detail()
    assert detail["duration_seconds"] == 12 * 60 + 5  # VRO's finish, not the bot's "now"
    assert (detail["rto_minutes"], detail["rto_met"]) == (10, False)
    assert (detail["warnings"], detail["errors"]) == (1, 1)
    assert detail["result"] == "Complete, 1 error, 1 warning"


def test_only_recovery_runs_are_measured_against_the_rto() -> None:
    from bot.watcher.runs import rto_applies

    assert rto_applies("Failover")
    assert rto_applies("Restore")
    assert not rto_applies("ReadinessCheck")
    assert not rto_applies("Halt")
    assert not rto_applies(None)


def test_the_rto_uses_one_clock_when_vro_gives_its_times_only_at_the_end() -> None:
    """VRO's clock is 5 hours ahead of the bot's, and its run details carry no start time until
    the run is over. The 10-minute run met its 30-minute RTO: the RTO line and the audit record
    used to take the bot's first sight as the start and VRO's finish as the end (5h 10m, missed)."""
    vro = T0 + timedelta(hours=5)
    snap, _ = advance(Snapshot(), Observation(plan=plan("FailoverInProgress", progress=10), at=T0))
    done = plan(
        "FailoverComplete",
        progress=100,
        result_name="Complete, no errors",
        run_result="Success",
        execution=result("Success", start=vro, finish=vro + timedelta(minutes=10)),
    )
    snap, _ = advance(snap, Observation(plan=done, at=T0 + timedelta(minutes=10)))
    now = T0 + timedelta(minutes=10)
    (message,) = summary_messages(replace(INFO, rto_minutes=30), snap, now=now)
    body = texts(message.blocks)
    assert "Duration 10m 00s" in body
    assert "RTO 30m 00s: *met*, 20m 00s to spare" in body
    from bot.watcher.runs import run_record

    assert run_record(snap, now=now, rto_minutes=30).audit_detail()["duration_seconds"] == 600
