"""Acceptance: real runs on the simulator, narrated through the outbox into the sandbox Slack."""

from __future__ import annotations

from collections import Counter

from bot.outbox.store import enqueue_post
from bot.simulator.estate import PlanSpec
from bot.slack.message import Message
from bot.vro.models import ContinueOption
from bot.watcher.lifecycle import NewWatch, activate_watch, open_sending_watch
from tests.watcher.conftest import CHANNEL, Stack, message_text, vm_tokens

MARK = {"Success": "✓ ", "Warning": "⚠ ", "Error": "✗ "}


def plan_spec(stack: Stack, name: str) -> PlanSpec:
    return next(p for p in stack.sim.estate.plans if p.name == name)


def step_id(stack: Stack, plan: str, vm: str, step: str) -> str:
    spec = plan_spec(stack, plan)
    return next(s.id for g in spec.groups for v in g.vms if v.name == vm for s in v.steps if s.name == step)


def posted_keys(stack: Stack) -> list[str]:
    return [
        c.params["metadata"]["event_payload"]["key"]
        for c in stack.slack.sandbox.log.calls("chat.postMessage", ok=True)
    ]


async def test_a_failover_is_narrated_from_start_to_summary_with_every_step_and_warning_exactly_once(
    stack: Stack,
) -> None:
    plan = "SAP Tier1"
    stack.sim.set_step_outcome(
        plan,
        step_id(stack, plan, "sap-app-02", "Check VM Heartbeat"),
        "Warning",
        message="[Heartbeat] late by 40 s",
    )
    plan_id = stack.sim.plan_id(plan)
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(
        plan_id, CHANNEL, action="Failover", requested_by="U1", approved_by=["U2"]
    )
    await stack.until(watch_id)
    await stack.sender.run_until_idle()

    thread = await stack.thread(watch_id)
    tokens = vm_tokens(thread)
    spec = plan_spec(stack, plan)
    for group in spec.groups:
        for vm in group.vms:
            finished = [t for t in tokens[vm.name] if t[:1] in "✓⚠✗"]
            assert sorted(finished) == sorted(MARK[s.outcome] + s.name for s in vm.steps), vm.name
            assert tokens[vm.name][-1] in ("done ✓", "done ⚠")
        for s in group.steps:  # virtual group steps, under the group's name
            assert f"✓ {s.name}" in tokens[group.name]
    everything = "\n".join(message_text(m) for m in thread)
    warnings = [s.message for g in spec.groups for v in g.vms for s in v.steps if s.outcome == "Warning"]
    assert "[Heartbeat] late by 40 s" in warnings
    for warning in warnings:
        assert everything.count(str(warning)) == 2, warning  # its thread line, and the summary
    assert len(posted_keys(stack)) == len(set(posted_keys(stack)))  # nothing posted twice

    summary = thread[-1]
    assert summary.reply_broadcast  # also shown in the channel
    text = message_text(summary)
    live = stack.sim.plan(plan)
    runtime = await stack.vro.get_plan_runtime(plan_id)
    assert f"Failover of {plan} finished" in text
    assert f"*{runtime.stateName}*" in text
    assert str(runtime.resultName) in text
    assert "Requested by <@U1> · approved by <@U2>" in text
    total = sum(len(v.steps) for g in spec.groups for v in g.vms) + sum(len(g.steps) for g in spec.groups)
    assert f"Steps {total}/{total} (✓ {total - len(warnings)} · ⚠ {len(warnings)} · ✗ 0)" in text
    assert live.state == "FailoverComplete"
    card = stack.slack.sandbox.workspace.message(CHANNEL, await stack.root_ts(watch_id))
    assert "Finished" in message_text(card)
    # A finished watch costs nothing more.
    before = stack.watcher.stats.vro_requests
    await stack.tick(60)
    assert stack.watcher.stats.vro_requests == before


async def test_a_halt_offers_continue_and_undo_and_the_narration_carries_on_after_continue(
    stack: Stack,
) -> None:
    plan = "Payroll Restore"  # payroll-db-01's SQL check fails; make it critical so the plan halts
    failing = step_id(stack, plan, "payroll-db-01", "Verify SQL Database")
    stack.sim.set_step_outcome(plan, failing, "Error", critical=True, error_attempts=1)
    plan_id = stack.sim.plan_id(plan)
    await stack.vro.restore(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL, action="Restore", requested_by="U1")
    for _ in range(200):
        await stack.tick()
        if (await stack.vro.get_plan_runtime(plan_id)).state == "Halted" and any(
            "is halted" in message_text(m) for m in await stack.thread(watch_id)
        ):
            break
    halt = next(m for m in await stack.thread(watch_id) if "is halted" in message_text(m))
    actions = next(b for b in halt.blocks if b["type"] == "actions")
    ids = [e["action_id"] for e in actions["elements"]]
    assert f"vro_action:continue:{ContinueOption.RETRY_FAILED_STEP}" in ids
    assert "Verify SQL Database" in message_text(halt)
    # Someone approved "retry the failed step" (the approval flow is not the watcher's business).
    await stack.vro.continue_plan(plan_id, ContinueOption.RETRY_FAILED_STEP)
    await stack.watcher.nudge(plan_id)
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    thread = await stack.thread(watch_id)
    text = "\n".join(message_text(m) for m in thread)
    assert "is running again" in text
    assert "✓ Verify SQL Database (again)" in text or "▸ Verify SQL Database (again)" in text
    assert text.count("RECOVERY_PENDING") >= 1
    assert thread[-1].reply_broadcast
    assert len(posted_keys(stack)) == len(set(posted_keys(stack)))


async def test_a_vro_reboot_mid_run_is_reported_once_without_bogus_events_and_the_thread_continues(
    stack: Stack,
) -> None:
    plan = "Web Frontend"
    plan_id = stack.sim.plan_id(plan)
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL, action="Failover")
    for _ in range(12):
        await stack.tick()
    await stack.sender.run_until_idle()
    seen_before = len(await stack.thread(watch_id))
    stack.sim.reboot()  # RuntimeDetails wiped, tokens gone, the run stops (Halted)
    for _ in range(6):
        await stack.tick()
    await stack.sender.run_until_idle()
    thread = await stack.thread(watch_id)
    news = "\n".join(message_text(m) for m in thread[seen_before:])
    assert news.count("run details were reset") == 1
    assert news.count("is halted") == 1
    assert "▸" not in news  # nothing "starts" because VRO forgot it had started
    assert "✓" not in news  # nothing finished is narrated again
    # The operator continues; VRO picks up and the same thread carries on to the summary.
    await stack.vro.continue_plan(plan_id, ContinueOption.PROCEED_TO_NEXT_STEP)
    await stack.watcher.nudge(plan_id)
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    thread = await stack.thread(watch_id)
    assert "finished" in message_text(thread[-1])
    for vm, tokens in vm_tokens(thread).items():
        # VRO forgot the run, so it ran some steps again: each rerun is announced as one.
        finished = Counter(t.removesuffix(" (again)") for t in tokens if t[:1] in "✓⚠✗")
        for token, count in finished.items():
            name = token[2:]
            reruns = sum(1 for t in tokens if t.endswith(f" {name} (again)"))
            assert count <= 1 + reruns, (vm, token)
    assert len(posted_keys(stack)) == len(set(posted_keys(stack)))


async def test_vro_errors_are_reported_once_when_they_start_and_once_when_they_end(stack: Stack) -> None:
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL)
    await stack.tick()
    stack.sim.faults.fail_next("/api/*/RuntimeDetails/*", count=4, status=503)
    for _ in range(4):
        await stack.tick(30)
    stack.sim.expire_tokens()  # a 401: the client logs in again by itself
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    text = "\n".join(message_text(m) for m in await stack.thread(watch_id))
    assert text.count("VRO is not answering") == 1
    assert text.count("VRO is answering again") == 1


async def test_an_action_whose_vro_is_unreachable_past_the_no_run_deadline_is_not_called_a_no_run(
    stack: Stack,
) -> None:
    """VRO went away right after taking the action and came back after the no-run deadline:
    what it did meanwhile is unknown, so the watch waits for VRO's data instead of telling the
    channel "VRO shows no run" and stopping while the failover runs on."""
    plan_id = stack.sim.plan_id("Web Frontend")
    watch_id = await action_watch(stack, plan_id)
    assert watch_id is not None
    stack.sim.faults.fail_next("/api/*/RuntimeDetails/*", count=1000, status=503)
    await stack.vro.failover(plan_id)
    for _ in range(8):  # four minutes of outage: twice the deadline
        await stack.tick(30)
    assert (await stack.row(watch_id)).status == "active"
    stack.sim.faults.clear()
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    (root,) = stack.slack.sandbox.workspace.top_level(CHANNEL)[:1]
    texts = [message_text(m) for m in stack.slack.sandbox.workspace.thread(CHANNEL, root.ts)]
    assert not any("shows no run" in text for text in texts)
    assert "Failover of Web Frontend finished" in texts[-1]


async def test_vro_answering_errors_is_told_with_its_status_and_its_own_words(stack: Stack) -> None:
    plan_id = stack.sim.plan_id("Web Frontend")
    await stack.vro.failover(plan_id)
    watch_id = await stack.watcher.start_watch(plan_id, CHANNEL)
    await stack.tick()
    stack.sim.faults.fail_next("/api/*/RuntimeDetails/*", count=2, status=500, message="Database is locked.")
    for _ in range(2):
        await stack.tick(30)
    await stack.until(watch_id)
    await stack.sender.run_until_idle()
    text = "\n".join(message_text(m) for m in await stack.thread(watch_id))
    assert text.count("VRO is not answering (HTTP 500: Database is locked.)") == 1
    assert text.count("VRO is answering again") == 1


async def action_watch(stack: Stack, plan_id: str) -> int | None:
    """The watch of an approved Failover of Web Frontend, activated with a 120 s no-run deadline
    (the action itself is left to the test)."""
    baseline = (await stack.vro.get_plan_runtime(plan_id)).model_dump(mode="json", exclude_none=True)
    async with stack.sessions() as session, session.begin():
        card = Message(text="Failover of Web Frontend approved")
        await enqueue_post(
            session, key="approval:req-1", channel=CHANNEL, message=card, now=stack.clock.now()
        )
        await open_sending_watch(
            session,
            NewWatch(
                plan_id=plan_id,
                plan_name="Web Frontend",
                channel=CHANNEL,
                request_id="req-1",
                action="Failover",
                requested_by="U1",
                approved_by=["U2"],
                thread_key="approval:req-1",
                baseline=baseline,
            ),
            now=stack.clock.now(),
            poll_seconds=5,
        )
        return await activate_watch(session, "req-1", now=stack.clock.now(), no_run_seconds=120)


async def test_an_action_s_watch_keeps_its_pace_until_the_run_shows(stack: Stack) -> None:
    """VRO may start the run a while after taking the action: the watch does not back off to a
    minute meanwhile, so the run's first step is narrated within a poll of starting."""
    plan_id = stack.sim.plan_id("Web Frontend")
    watch_id = await action_watch(stack, plan_id)
    assert watch_id is not None
    for _ in range(6):  # 30 s with the plan still idle
        await stack.tick(5)
    assert (await stack.row(watch_id)).interval_seconds == 5
    await stack.vro.failover(plan_id)
    await stack.until(watch_id)
    assert (await stack.row(watch_id)).status == "finished"
