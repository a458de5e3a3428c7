"""Runs told by a scripted VRO (RuntimeDetails as a real VRO could send them), through the
real client, the watcher, the outbox and the sandbox Slack.

- VRO's words for how an item ended are read for what they mean. Only ``Completed`` (state) and
  ``Success`` / ``Warning`` (result) are documented: a result ``Failed`` must not be narrated and
  counted as a success, and a step VRO finished under a state the bot does not know must not
  stay "running" into the summary.
- A retry that puts a VM's steps back to NotStarted is narrated as the retry it is, not as VRO
  restarting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.sandbox.server import RunningSandbox
from tests.watcher.conftest import CHANNEL, Stack, message_text, stack_on
from tests.watcher.scripted_vro import (
    PLAN_ID,
    ScriptedRuntime,
    outcome,
    plan_runtime,
    runtime_item,
    scripted_client,
)

T0, T1, T2 = "2026-01-01T12:00:00Z", "2026-01-01T12:00:30Z", "2026-01-01T12:01:00Z"


@pytest.fixture
async def scripted(
    clock: FakeClock, db_sessions: async_sessionmaker[AsyncSession], slack: RunningSandbox
) -> AsyncIterator[tuple[Stack, ScriptedRuntime]]:
    runtime = ScriptedRuntime()
    vro = scripted_client(runtime, clock)
    try:
        # No simulator: the scripted runtime is VRO here.
        yield stack_on(vro, None, clock=clock, sessions=db_sessions, slack=slack), runtime  # type: ignore[arg-type]
    finally:
        await vro.aclose()


async def test_a_failed_result_and_an_unknown_finished_state_are_counted_as_vro_counts_them(
    scripted: tuple[Stack, ScriptedRuntime],
) -> None:
    stack, vro = scripted
    vro.plan = plan_runtime("FailoverInProgress", 10, running=True)
    vro.groups = [runtime_item("g1", "Web", "Running", 10, groupType="VmGroup")]
    vro.vms["g1"] = [runtime_item("v1", "web-01", "Running", 10)]
    vro.vm_steps["v1"] = [
        runtime_item("s1", "Check app", "Running", 10, executionResult=outcome(None, start=T0)),
        runtime_item("s2", "Power on", "Running", 10, executionResult=outcome(None, start=T0)),
    ]
    watch_id = await stack.watcher.start_watch(PLAN_ID, CHANNEL, action="Failover")
    await stack.tick()

    vro.vm_steps["v1"] = [
        runtime_item(
            "s1",
            "Check app",
            "Completed",
            100,
            executionResult=outcome("Failed", ("Error", "app down"), start=T0, finish=T1),
        ),
        runtime_item(
            "s2",
            "Power on",
            "CompletedWithWarnings",
            100,
            executionResult=outcome("Warning", ("Warning", "tools not running"), start=T0, finish=T1),
        ),
    ]
    counts = {"successCount": 0, "warningCount": 1, "errorCount": 1, "totalCount": 2}
    vro.vms["g1"][0].update(
        executionState="Completed",
        progress=100,
        executionResult=outcome("Error", start=T0, finish=T1),
        **counts,
    )
    vro.groups[0].update(
        executionState="Completed",
        progress=100,
        errorCount=1,
        totalCount=1,
        executionResult=outcome("Error", start=T0, finish=T1),
    )
    vro.plan = plan_runtime(
        "Failover",
        100,
        running=False,
        result="Error",
        resultName="Complete, 1 error, 1 warning",
        executionResult=outcome("Error", start=T0, finish=T2),
    )
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    texts = [message_text(m) for m in await stack.thread(watch_id)]
    narrated = "\n".join(texts[:-1])
    ended = narrated.split("▸ Power on", 1)[1]  # after both steps were seen starting
    assert "*web-01*: ✗ Check app" in ended
    assert "*web-01*: ⚠ Power on" in ended
    assert "✓" not in narrated  # nothing reads as a success
    assert "*web-01*: failed ✗" in ended
    summary = texts[-1]
    assert "Steps 2/2 (✓ 0 · ⚠ 1 · ✗ 1)" in summary  # as VRO's own counts on the VM
    assert "VMs 1/1 (✓ 0 · ⚠ 0 · ✗ 1)" in summary


async def test_a_retried_vm_whose_steps_go_back_to_not_started_is_no_vro_restart(
    scripted: tuple[Stack, ScriptedRuntime],
) -> None:
    stack, vro = scripted
    done = outcome("Success", start=T0, finish=T0)
    vro.plan = plan_runtime("FailoverInProgress", 10, running=True)
    vro.groups = [runtime_item("g1", "Web", "Running", 10, groupType="VmGroup")]
    vro.vms["g1"] = [runtime_item("v1", "web-01", "Running", 10)]
    vro.vm_steps["v1"] = [
        runtime_item("s1", "Power on", "Completed", 100, executionResult=done),
        runtime_item("s2", "Check app", "Running", 10, executionResult=outcome(None, start=T0)),
    ]
    watch_id = await stack.watcher.start_watch(PLAN_ID, CHANNEL, action="Failover")
    await stack.tick()
    failed = outcome("Error", ("Error", "app down"), start=T0, finish=T1)
    vro.vm_steps["v1"][1].update(executionState="Failed", progress=100, executionResult=failed)
    vro.vms["g1"][0].update(executionState="Halted", progress=50, errorCount=1, successCount=1, totalCount=2)
    vro.groups[0].update(progress=50)
    vro.plan = plan_runtime("Halted", 50, running=False, result="Error")
    await stack.tick()

    # Continue with RetryFailedVm: VRO runs the VM's steps again from NotStarted.
    vro.plan = plan_runtime("FailoverInProgress", 40, running=True)
    vro.groups[0].update(progress=40)
    vro.vms["g1"][0].update(executionState="Running", progress=0, errorCount=0, successCount=0)
    vro.vm_steps["v1"] = [
        runtime_item("s1", "Power on", "Running", 10, executionResult=outcome(None, start=T2)),
        runtime_item("s2", "Check app", "NotStarted", 0),
    ]
    await stack.tick()
    ok = outcome("Success", start=T2, finish=T2)
    vro.vm_steps["v1"] = [
        runtime_item("s1", "Power on", "Completed", 100, executionResult=ok),
        runtime_item("s2", "Check app", "Completed", 100, executionResult=ok),
    ]
    vro.vms["g1"][0].update(
        executionState="Completed", progress=100, successCount=2, totalCount=2, executionResult=ok
    )
    vro.groups[0].update(
        executionState="Completed", progress=100, successCount=1, totalCount=1, executionResult=ok
    )
    vro.plan = plan_runtime(
        "Failover",
        100,
        running=False,
        result="Success",
        executionResult=outcome("Success", start=T0, finish=T2),
    )
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    text = "\n".join(message_text(m) for m in await stack.thread(watch_id))
    assert "run details were reset" not in text
    assert "is running again" in text
    assert "*web-01*: started again · ▸ Power on (again)" in text
    assert "✓ Check app (again)" in text
    assert "Steps 2/2 (✓ 2 · ⚠ 0 · ✗ 0)" in text


async def test_a_group_with_steps_and_no_vms_is_narrated_whatever_its_type_is_called(
    scripted: tuple[Stack, ScriptedRuntime],
) -> None:
    """Only ``groupType: VirtualGroup`` is known to hold steps directly; a group VRO calls
    otherwise that lists no VMs has its steps read under the group all the same."""
    stack, vro = scripted
    vro.plan = plan_runtime("FailoverInProgress", 10, running=True)
    vro.groups = [runtime_item("g1", "Pre-failover scripts", "Running", 10, groupType=None)]
    vro.group_steps["g1"] = [
        runtime_item("s1", "Stop app tier", "Running", 10, executionResult=outcome(None, start=T0))
    ]
    watch_id = await stack.watcher.start_watch(PLAN_ID, CHANNEL, action="Failover")
    await stack.tick()
    vro.group_steps["g1"] = [
        runtime_item(
            "s1", "Stop app tier", "Completed", 100, executionResult=outcome("Success", start=T0, finish=T1)
        )
    ]
    vro.groups[0].update(
        executionState="Completed", progress=100, executionResult=outcome("Success", start=T0, finish=T1)
    )
    vro.plan = plan_runtime(
        "Failover",
        100,
        running=False,
        result="Success",
        executionResult=outcome("Success", start=T0, finish=T2),
    )
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    texts = [message_text(m) for m in await stack.thread(watch_id)]
    assert "Stop app tier" in "\n".join(texts[:-1])
    assert "Steps 1/1" in texts[-1]


async def test_an_empty_vm_group_costs_no_error(scripted: tuple[Stack, ScriptedRuntime]) -> None:
    """A VM group with no VMs (VRO answers 404 for steps under it) is not "VRO unreachable"."""
    stack, vro = scripted
    vro.plan = plan_runtime("FailoverInProgress", 10, running=True)
    vro.groups = [runtime_item("g1", "Spare", "Running", 10, groupType="VmGroup")]
    vro.missing_group_steps = True
    watch_id = await stack.watcher.start_watch(PLAN_ID, CHANNEL, action="Failover")
    await stack.tick()
    await stack.tick()
    assert not (await stack.row(watch_id)).vro_unreachable
