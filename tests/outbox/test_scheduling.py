"""Choosing the next post of a channel and the next card edit of the workspace (pure)."""

from __future__ import annotations

from bot.outbox.scheduling import WaitingEdit, WaitingPost, edit_order, next_post


def test_a_thread_goes_in_order_only_its_head_may_go() -> None:
    posts = [WaitingPost(id=2, thread="a"), WaitingPost(id=1, thread="a")]
    assert next_post(posts, {}) == WaitingPost(id=1, thread="a")


def test_the_thread_served_least_recently_goes_next() -> None:
    posts = [WaitingPost(id=1, thread="busy"), WaitingPost(id=9, thread="quiet")]
    assert next_post(posts, {"busy": 10.0, "quiet": 3.0}).thread == "quiet"  # type: ignore[union-attr]
    assert next_post(posts, {"busy": 10.0}).thread == "quiet"  # type: ignore[union-attr]  # never served


def test_a_thread_holding_a_summary_goes_first_yet_in_its_own_order() -> None:
    posts = [
        WaitingPost(id=1, thread="other"),
        WaitingPost(id=5, thread="ending"),
        WaitingPost(id=6, thread="ending", priority=1),
    ]
    assert next_post(posts, {"ending": 50.0}) == WaitingPost(id=5, thread="ending")


def test_a_thread_whose_head_cannot_go_waits_whole_and_the_others_go_on() -> None:
    posts = [
        WaitingPost(id=1, thread="a", ready=False),
        WaitingPost(id=2, thread="a"),
        WaitingPost(id=3, thread="b"),
    ]
    assert next_post(posts, {}) == WaitingPost(id=3, thread="b")
    assert next_post([WaitingPost(id=1, thread="a", ready=False)], {}) is None


def test_thirty_threads_each_get_a_post_before_any_gets_a_second() -> None:
    posts = [WaitingPost(id=run * 100 + n, thread=f"run{run}") for run in range(30) for n in range(5)]
    served: dict[str, float] = {}
    order = []
    for tick in range(60):
        choice = next_post(posts, served)
        assert choice is not None
        order.append(choice.thread)
        served[choice.thread] = float(tick)
        posts.remove(choice)
    assert sorted(order[:30]) == sorted(f"run{run}" for run in range(30))
    assert sorted(order[30:]) == sorted(order[:30])


def test_edits_go_by_priority_then_the_most_stale_card_first() -> None:
    edits = [
        WaitingEdit(target="fresh", priority=0, stale_since=100.0),
        WaitingEdit(target="stale", priority=0, stale_since=10.0),
        WaitingEdit(target="halted", priority=1, stale_since=120.0),
        WaitingEdit(target="too-soon", priority=1, stale_since=1.0, ready=False),
    ]
    assert [edit.target for edit in edit_order(edits)] == ["halted", "stale", "fresh"]
