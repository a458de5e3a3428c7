"""The channel board: one live message over every run narrated in a busy channel."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.outbox.scheduling import WaitingEdit, edit_order
from bot.outbox.tables import PRIORITY_BOARD, PRIORITY_NOTICE, OutboxMessage
from bot.slack.blocks.kit import MAX_MESSAGE_BLOCKS
from bot.watcher.board import MAX_LINES, BoardRun, Tally, board_line, board_message, should_open, tally_of
from bot.watcher.snapshot import Item, PlanView, Snapshot
from bot.watcher.tables import Board
from tests.watcher.conftest import CHANNEL, Stack, message_text

# --- the lines (pure) -------------------------------------------------------------------------


def run(status: str = "active", **tally: object) -> BoardRun:
    return BoardRun(
        watch_id=1,
        plan_name="Web Frontend",
        action="Failover",
        status=status,
        tally=Tally.from_json(tally),
    )


def test_a_running_run_shows_its_state_progress_steps_and_problems() -> None:
    line = board_line(
        run(state="Failover", progress=45, running=True, steps_done=12, steps_total=50, warnings=1, errors=2)
    )
    assert line == "⏳ *Web Frontend* · Failover · Failover 45% · steps 12/50 · ⚠ 1 · ✗ 2"


def test_a_halted_run_says_where_the_choices_are() -> None:
    line = board_line(run(state="Halted", running=True, halted=True, steps_done=3))
    assert line.startswith("⏸️ *Web Frontend*")
    assert "steps 3 done" in line
    assert "halted: the choices are in its thread" in line


def test_an_ended_run_keeps_its_line_with_how_it_ended() -> None:
    assert board_line(run("finished", result="Success", steps_done=9, steps_total=9)).startswith("✅")
    assert board_line(run("finished", result="Warning", warnings=1)).startswith("⚠️")
    assert board_line(run("finished", result="Error", errors=1)).startswith("❌")
    assert "superseded by a newer action" in board_line(run("superseded"))
    assert "no longer watched" in board_line(run("stopped"))
    assert "VRO showed no run" in board_line(run("no_run"))


def test_the_board_counts_runs_and_says_when_all_ended() -> None:
    live = board_message([run(running=True), run("finished", result="Success"), run(halted=True)])
    assert "2 runs in progress in this channel" in live.text
    assert "1 need attention" in message_text_of(live.blocks)
    ended = board_message([run("finished"), run("stopped")])
    assert ended.text.startswith("🗂️ All 2 runs in this channel ended")


def test_a_huge_board_stays_within_slacks_limits_and_counts_what_it_left_out() -> None:
    runs = [run(running=True, steps_done=i, steps_total=5000) for i in range(MAX_LINES + 30)]
    message = board_message(runs)
    assert len(message.blocks) <= MAX_MESSAGE_BLOCKS
    assert all(len(str(block.get("text", {}).get("text", ""))) <= 3000 for block in message.blocks)
    assert "…and 30 more runs" in message_text_of(message.blocks)


def test_a_board_opens_at_the_configured_number_of_runs() -> None:
    assert not should_open(2, 3)
    assert should_open(3, 3)
    assert not should_open(50, 0)  # 0 turns boards off


def test_the_tally_is_the_snapshots_step_counts() -> None:
    snapshot = Snapshot(
        plan=PlanView(id="p", name="P", state="Failover", state_name="Failover", progress=40, running=True),
        items={
            "v:1": Item(key="v:1", id="1", kind="vm", name="vm1", phase="running", counts=(1, 1, 0, 4)),
            "v:2": Item(key="v:2", id="2", kind="vm", name="vm2", phase="completed", counts=(4, 0, 0, 4)),
        },
    )
    tally = tally_of(snapshot)
    assert (tally.steps_done, tally.steps_total, tally.warnings, tally.running) == (6, 8, 1, True)
    assert Tally.from_json(tally.to_json()) == tally


def test_board_edits_go_before_any_cards() -> None:
    edits = [
        WaitingEdit(target="card-a", priority=PRIORITY_NOTICE, stale_since=1.0),
        WaitingEdit(target="board", priority=PRIORITY_BOARD, stale_since=50.0),
        WaitingEdit(target="card-b", priority=0, stale_since=0.0),
    ]
    assert [edit.target for edit in edit_order(edits)] == ["board", "card-a", "card-b"]


def message_text_of(blocks: object) -> str:
    assert isinstance(blocks, tuple | list)
    texts = []
    for block in blocks:
        assert isinstance(block, dict)
        texts.append(str(block.get("text", {}).get("text", "")))
        texts.extend(str(element.get("text", "")) for element in block.get("elements", ()))
    return "\n".join(texts)


# --- the board in the channel -----------------------------------------------------------------

THREE = ["Web Frontend", "Web Frontend Cache", "Exchange Failover"]


async def start(stack: Stack, names: list[str], *, check: bool = False) -> list[int]:
    """Fail the plans over (or run their readiness checks) and narrate them in one channel."""
    ids = []
    for name in names:
        plan_id = stack.sim.plan_id(name)
        if check:
            await stack.vro.readiness_check(plan_id)
        else:
            await stack.vro.failover(plan_id)
        action = "ReadinessCheck" if check else "Failover"
        ids.append(await stack.watcher.start_watch(plan_id, CHANNEL, action=action))
    return ids


async def run_to_the_end(stack: Stack, ids: list[int]) -> None:
    for watch_id in ids:
        await stack.until(watch_id)
    await stack.tick(5.0)  # the boards' turn after the last run ended
    await stack.sender.run_until_idle()


def boards_in_slack(stack: Stack) -> list[str]:
    return [
        message_text(m)
        for m in stack.slack.sandbox.workspace.top_level(CHANNEL)
        if message_text(m).startswith("🗂️")
    ]


async def test_three_runs_in_one_channel_share_one_board_that_follows_them_to_the_end(stack: Stack) -> None:
    ids = await start(stack, THREE)
    await stack.tick(5.0)
    await stack.sender.run_until_idle()
    (live,) = boards_in_slack(stack)
    assert "3 runs in progress in this channel" in live
    assert all(f"*{name}*" in live for name in THREE)
    await run_to_the_end(stack, ids)
    (final,) = boards_in_slack(stack)
    assert final.startswith("🗂️ All 3 runs in this channel ended")
    for name in THREE:
        line = next(line for line in final.splitlines() if f"*{name}*" in line)
        done, total = line.split("steps ")[1].split(" ")[0].split("/")
        assert done == total, line
    edits = [c for c in stack.slack.sandbox.log.calls(ok=True) if c.method == "chat.update"]
    assert len(edits) >= 3  # it moved while the runs ran
    async with stack.sessions() as session:
        (board,) = (await session.scalars(select(Board))).all()
    assert board.closed_at is not None


async def test_two_runs_in_a_channel_have_their_cards_and_no_board(stack: Stack) -> None:
    ids = await start(stack, THREE[:2])
    await run_to_the_end(stack, ids)
    assert boards_in_slack(stack) == []


async def test_the_next_busy_moment_opens_a_new_board(stack: Stack) -> None:
    await run_to_the_end(stack, await start(stack, THREE))
    await run_to_the_end(
        stack, await start(stack, ["SAP Tier1", "Finance DB Restore", "Payroll Restore"], check=True)
    )
    boards = boards_in_slack(stack)
    assert len(boards) == 2
    assert "*SAP Tier1*" in boards[1]
    assert "*Web Frontend*" not in boards[1]


async def test_two_replicas_opening_the_board_at_once_post_it_once(stack: Stack) -> None:
    await start(stack, THREE)
    other = stack.new_watcher(owner="w2")
    now = stack.clock.now()
    await asyncio.gather(stack.watcher.boards.refresh(now), other.boards.refresh(now))
    async with stack.sessions() as session:
        boards = (await session.scalars(select(Board))).all()
        posts = (await session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("board:%")))).all()
    assert len(boards) == 1
    assert [post.key for post in posts] == [boards[0].key]


async def test_an_unchanged_board_costs_no_edit(stack: Stack) -> None:
    await start(stack, THREE)
    now = stack.clock.now()
    assert await stack.watcher.boards.refresh(now)
    assert not await stack.watcher.boards.refresh(now)
