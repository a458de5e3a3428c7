"""The outbox sender against the sandbox Slack: order, pace, retries, failures, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.outbox.poster import SlackPoster
from bot.outbox.sender import DeliveryFailure, OutboxSender
from bot.outbox.slack_poster import SlackWebPoster
from bot.outbox.store import Message, enqueue_post, enqueue_update, get_message
from bot.outbox.tables import OutboxMessage
from bot.sandbox.faults import Fault
from bot.sandbox.server import RunningSandbox
from tests.outbox.conftest import CHANNEL, OTHER_CHANNEL, OUTSIDE_CHANNEL

Sessions = async_sessionmaker[AsyncSession]


async def post(sessions: Sessions, clock: FakeClock, key: str, text: str, **kw: Any) -> None:
    async with sessions() as session, session.begin():
        await enqueue_post(
            session, key=key, channel=kw.pop("channel", CHANNEL), message=Message(text), now=clock.now(), **kw
        )


async def rows(sessions: Sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def sender(sessions: Sessions, poster: SlackPoster, clock: FakeClock, **kw: Any) -> OutboxSender:
    return OutboxSender(session_factory=sessions, poster=poster, clock=clock, **kw)


def texts(slack: RunningSandbox, channel: str = CHANNEL) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in slack.sandbox.log.calls("chat.postMessage", ok=True)
        if c.params.get("channel") == channel
    ]


async def test_a_message_is_posted_once_with_its_key_in_metadata_and_its_ts_recorded(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    await post(db_sessions, clock, "k1", "hello")
    await post(db_sessions, clock, "k1", "hello again")  # same key: ignored
    await sender(db_sessions, poster, clock).run_until_idle()
    calls = slack.sandbox.log.calls("chat.postMessage")
    assert [c.params["text"] for c in calls] == ["hello"]
    assert calls[0].params["metadata"] == {"event_type": "vro_outbox", "event_payload": {"key": "k1"}}
    (row,) = await rows(db_sessions)
    assert row.status == "sent"
    assert row.ts is not None
    assert slack.sandbox.workspace.message(CHANNEL, row.ts).text == "hello"


async def test_thread_replies_wait_for_their_parent_and_land_in_its_thread(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    await post(db_sessions, clock, "root", "status card")
    for i in range(3):
        await post(db_sessions, clock, f"reply-{i}", f"reply {i}", parent_key="root")
    await sender(db_sessions, poster, clock).run_until_idle()
    root, *replies = await rows(db_sessions)
    thread = slack.sandbox.workspace.thread(CHANNEL, root.ts or "")
    assert [m.text for m in thread] == ["reply 0", "reply 1", "reply 2"]
    assert all(r.status == "sent" for r in replies)


async def test_posts_keep_to_about_one_a_second_per_channel_after_a_small_burst(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    slack.sandbox.set_channel_rate_limit(per_second=1.0, burst=3)  # Slack's rule, enforced with 429s
    for i in range(12):
        await post(db_sessions, clock, f"a{i}", f"a{i}")
        await post(db_sessions, clock, f"b{i}", f"b{i}", channel=OTHER_CHANNEL)
    out = sender(db_sessions, poster, clock, rate_per_second=1.0, burst=3)
    start = clock.monotonic()
    await out.run_until_idle()
    assert slack.sandbox.log.count("chat.postMessage", ok=False) == 0  # never rate limited
    assert texts(slack) == [f"a{i}" for i in range(12)]
    assert texts(slack, OTHER_CHANNEL) == [f"b{i}" for i in range(12)]
    assert out.stats.max_posts_in(1.0) <= 3
    # 12 posts: 3 from the burst, then 9 more at one a second; both channels in parallel.
    assert 8.5 <= clock.monotonic() - start <= 12


async def test_a_storm_of_429s_is_waited_out_and_every_message_arrives_once_in_order(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    for i in range(5):
        await post(db_sessions, clock, f"m{i}", f"m{i}")
    slack.sandbox.inject("chat.postMessage", Fault.rate_limited(retry_after=7), times=6)
    out = sender(db_sessions, poster, clock)
    start = clock.monotonic()
    await out.run_until_idle()
    assert texts(slack) == [f"m{i}" for i in range(5)]
    assert out.stats.rate_limited == 6
    assert clock.monotonic() - start >= 6 * 7  # each 429 was waited out in full
    assert all(r.status == "sent" and r.attempts == 1 for r in await rows(db_sessions))


async def test_server_errors_back_off_look_up_the_message_then_post_it_once(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    await post(db_sessions, clock, "m", "after errors")
    slack.sandbox.inject("chat.postMessage", Fault.server_error(503), times=3)
    out = sender(db_sessions, poster, clock)
    await out.run_until_idle()
    assert texts(slack) == ["after errors"]
    assert out.stats.transient_errors == 3
    assert out.stats.lookups == 3  # before each retry: did the failed call post it after all?
    waits = [s for s in clock.sleeps if s > 0.01]
    assert len(waits) >= 3
    assert waits[1] > waits[0] * 0.9  # exponential backoff (with jitter)


class CrashAfterPost:
    """A poster that posts for real, then dies before the sender can record the ts."""

    def __init__(self, inner: SlackPoster) -> None:
        self.inner = inner

    async def post_message(self, **kw: Any) -> str:
        await self.inner.post_message(**kw)
        raise Crash

    async def update_message(self, **kw: Any) -> None:
        await self.inner.update_message(**kw)

    async def find_by_metadata(
        self, *, channel: str, key: str, thread_ts: str | None, oldest: datetime | None
    ) -> str | None:
        return await self.inner.find_by_metadata(channel=channel, key=key, thread_ts=thread_ts, oldest=oldest)


class Crash(BaseException):
    """The process dying mid-call (not an Exception: nothing catches it)."""


@pytest.mark.parametrize("threaded", [False, True], ids=["channel-post", "thread-reply"])
async def test_after_a_crash_between_post_and_record_the_message_is_found_not_reposted(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster, threaded: bool
) -> None:
    parent: dict[str, Any] = {}
    if threaded:
        await post(db_sessions, clock, "root", "root")
        await sender(db_sessions, poster, clock).run_until_idle()
        parent = {"parent_key": "root"}
    await post(db_sessions, clock, "m", "only once", **parent)
    with pytest.raises(Crash):
        await sender(db_sessions, CrashAfterPost(poster), clock, owner="dead", claim_seconds=30).send_due()
    row = (await rows(db_sessions))[-1]
    assert row.status == "pending"
    assert row.in_doubt
    clock.advance(31)  # the dead sender's claim expires
    survivor = sender(db_sessions, poster, clock, owner="survivor")
    await survivor.run_until_idle()
    all_posts = slack.sandbox.log.calls("chat.postMessage", ok=True)
    assert [c.params["text"] for c in all_posts].count("only once") == 1
    assert survivor.stats.found_by_lookup == 1
    assert slack.sandbox.log.count("conversations.replies" if threaded else "conversations.history") == 1
    row = (await rows(db_sessions))[-1]
    assert row.status == "sent"
    assert slack.sandbox.workspace.message(CHANNEL, row.ts or "").text == "only once"


@pytest.mark.parametrize("threaded", [False, True], ids=["channel-post", "thread-reply"])
async def test_a_429_on_the_lookup_after_a_crash_keeps_the_message_in_doubt_and_never_reposts_it(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster, threaded: bool
) -> None:
    """Slack refusing the lookup says nothing about the earlier post: it is looked up again later."""
    parent: dict[str, Any] = {}
    if threaded:
        await post(db_sessions, clock, "root", "root")
        await sender(db_sessions, poster, clock).run_until_idle()
        parent = {"parent_key": "root"}
    await post(db_sessions, clock, "m", "only once", **parent)
    with pytest.raises(Crash):
        await sender(db_sessions, CrashAfterPost(poster), clock, owner="dead", claim_seconds=30).send_due()
    clock.advance(31)  # the dead sender's claim expires
    lookup = "conversations.replies" if threaded else "conversations.history"
    slack.sandbox.inject(lookup, Fault.rate_limited(retry_after=3))
    survivor = sender(db_sessions, poster, clock, owner="survivor")
    await survivor.run_until_idle()
    all_posts = slack.sandbox.log.calls("chat.postMessage", ok=True)
    assert [c.params["text"] for c in all_posts].count("only once") == 1
    assert survivor.stats.rate_limited == 1
    assert survivor.stats.found_by_lookup == 1
    assert slack.sandbox.log.count(lookup) == 2  # refused once, then asked again
    row = (await rows(db_sessions))[-1]
    assert row.status == "sent"
    assert slack.sandbox.workspace.message(CHANNEL, row.ts or "").text == "only once"


async def test_a_channel_the_bot_cannot_post_to_fails_its_messages_once_and_reports_them(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    failures: list[DeliveryFailure] = []

    async def on_failure(failure: DeliveryFailure) -> None:
        failures.append(failure)

    for i in range(3):
        await post(db_sessions, clock, f"x{i}", "x", channel=OUTSIDE_CHANNEL)
    await post(db_sessions, clock, "ok", "fine")
    await sender(db_sessions, poster, clock, on_failure=on_failure).run_until_idle()
    assert slack.sandbox.log.count("chat.postMessage", ok=False) == 1  # not retried
    assert sorted((f.key, f.error) for f in failures) == [(f"x{i}", "not_in_channel") for i in range(3)]
    statuses = {r.key: (r.status, r.error) for r in await rows(db_sessions)}
    assert statuses["x0"] == ("failed", "not_in_channel")
    assert statuses["ok"][0] == "sent"


async def test_a_message_slack_rejects_fails_alone_and_the_queue_moves_on(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    failures: list[DeliveryFailure] = []

    async def on_failure(failure: DeliveryFailure) -> None:
        failures.append(failure)

    await post(db_sessions, clock, "bad", "bad blocks")
    await post(db_sessions, clock, "reply", "reply to bad", parent_key="bad")
    await post(db_sessions, clock, "good", "good")
    slack.sandbox.inject("chat.postMessage", Fault.error("invalid_blocks"))
    await sender(db_sessions, poster, clock, on_failure=on_failure).run_until_idle()
    assert [(f.key, f.error) for f in failures] == [("bad", "invalid_blocks"), ("reply", "parent_failed")]
    assert texts(slack) == ["good"]


async def test_transient_errors_give_up_after_the_attempt_limit(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    await post(db_sessions, clock, "m", "never")
    slack.sandbox.inject("chat.postMessage", Fault.server_error(500), times=100)
    out = sender(db_sessions, poster, clock, max_attempts=4)
    await out.run_until_idle()
    (row,) = await rows(db_sessions)
    assert row.status == "failed"
    assert "4 attempts" in (row.error or "")
    assert slack.sandbox.log.count("chat.postMessage") == 4


async def test_updates_of_one_message_collapse_to_the_newest_and_are_spaced(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    await post(db_sessions, clock, "card", "v0")
    for i in range(1, 6):
        async with db_sessions() as session, session.begin():
            await enqueue_update(
                session,
                key=f"card:{i}",
                channel=CHANNEL,
                message=Message(f"v{i}"),
                target_key="card",
                now=clock.now(),
            )
    out = sender(db_sessions, poster, clock, update_interval=5.0)
    await out.run_until_idle()
    updates = slack.sandbox.log.calls("chat.update", ok=True)
    assert [c.params["text"] for c in updates] == ["v5"]
    async with db_sessions() as session:
        card = await get_message(session, "card")
        assert card is not None
        assert slack.sandbox.workspace.message(CHANNEL, card.ts or "").text == "v5"
    assert out.stats.superseded == 4
    # Two more edits right away: the second waits out the interval.
    for i in (6, 7):
        async with db_sessions() as session, session.begin():
            await enqueue_update(
                session,
                key=f"card:{i}",
                channel=CHANNEL,
                message=Message(f"v{i}"),
                target_key="card",
                now=clock.now(),
            )
        before = clock.monotonic()
        await out.run_until_idle()
    assert clock.monotonic() - before >= 4.9
    assert [c.params["text"] for c in slack.sandbox.log.calls("chat.update", ok=True)] == ["v5", "v6", "v7"]


async def test_two_senders_on_one_database_post_each_message_once(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    for i in range(10):
        await post(db_sessions, clock, f"m{i}", f"m{i}")
    a = sender(db_sessions, poster, clock, owner="a", burst=3, rate_per_second=1)
    b = sender(db_sessions, poster, clock, owner="b", burst=3, rate_per_second=1)
    # Both passes run side by side; the clock moves only between them. (A fake clock that one
    # sender jumps forward while the other's Slack call is in flight would model a call that
    # outlives its claim, which the poster's timeout rules out: see the next test.)
    for _ in range(30):
        await asyncio.gather(a.send_due(), b.send_due())
        if await a.pending_count() == 0:
            break
        clock.advance(1)
    assert texts(slack) == [f"m{i}" for i in range(10)]


class SlowSlack:
    """A Slack whose first call is slow; while it is in flight, a replica on the same database
    runs a pass of its own. Lookups by key find what was posted, as Slack's metadata search does."""

    def __init__(self, clock: FakeClock, slowness: float) -> None:
        self.clock = clock
        self.slowness = slowness
        self.posts: list[str] = []
        self.meanwhile: OutboxSender | None = None

    async def post_message(self, **kw: Any) -> str:
        self.posts.append(str(kw["key"]))
        if len(self.posts) == 1 and self.meanwhile is not None:
            self.clock.advance(self.slowness)
            await self.meanwhile.send_due()
        return f"1.{len(self.posts):06d}"

    async def update_message(self, **_kw: Any) -> None:
        return None

    async def find_by_metadata(self, *, key: str, **_kw: Any) -> str | None:
        return f"1.{self.posts.index(key) + 1:06d}" if key in self.posts else None


async def two_senders_and_a_slow_call(
    sessions: Sessions, clock: FakeClock, slowness: float
) -> tuple[SlowSlack, OutboxSender, OutboxSender]:
    for i in range(3):
        await post(sessions, clock, f"m{i}", f"m{i}")
    slack = SlowSlack(clock, slowness)
    kw: dict[str, Any] = {"burst": 3, "rate_per_second": 1, "claim_seconds": 15, "send_seconds": 11}
    a = sender(sessions, slack, clock, owner="a", **kw)
    b = sender(sessions, slack, clock, owner="b", **kw)
    slack.meanwhile = b
    return slack, a, b


async def test_a_claim_running_low_is_renewed_before_the_next_post_so_a_replica_cannot_take_it(
    db_sessions: Sessions, clock: FakeClock
) -> None:
    """A pass claims m0..m2 for 15 s and posts them in turn; the first call takes 14 s. m1's
    claim then has 1 s left, less than a call: it is renewed while still held, and the replica's
    passes (during the slow call and after it) never take a row."""
    slack, a, b = await two_senders_and_a_slow_call(db_sessions, clock, 14.0)
    await a.send_due()
    clock.advance(5)
    await b.send_due()
    assert slack.posts == ["m0", "m1", "m2"]
    assert await a.pending_count() == 0


async def test_a_sender_whose_rows_were_taken_over_does_not_post_them_again(
    db_sessions: Sessions, clock: FakeClock
) -> None:
    """The claim lapsed during a call (a clock jump, a stalled process): the replica took the
    pass's other rows and posted them. The first sender checks its claim before each post and
    stops: every message is in Slack once."""
    slack, a, _b = await two_senders_and_a_slow_call(db_sessions, clock, 16.0)
    await a.send_due()
    assert sorted(slack.posts) == ["m0", "m1", "m2"]
    assert await a.pending_count() == 0


class Recorder:
    """A SlackPoster that only records (for checks that need no Slack at all)."""

    def __init__(self) -> None:
        self.posts: list[Mapping[str, Any]] = []

    async def post_message(self, **kw: Any) -> str:
        self.posts.append(kw)
        return f"1.{len(self.posts):06d}"

    async def update_message(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None, key: str
    ) -> None:
        return None

    async def find_by_metadata(
        self, *, channel: str, key: str, thread_ts: str | None, oldest: datetime | None
    ) -> str | None:
        return None


async def test_a_reply_under_a_known_thread_ts_and_broadcast_is_passed_through(
    db_sessions: Sessions, clock: FakeClock
) -> None:
    recorder = Recorder()
    await post(db_sessions, clock, "s", "summary", thread_ts="111.000001", broadcast=True)
    await sender(db_sessions, recorder, clock).run_until_idle()
    assert recorder.posts[0]["thread_ts"] == "111.000001"
    assert recorder.posts[0]["reply_broadcast"] is True


async def test_a_waiting_edit_is_refreshed_in_place_and_the_sender_sends_the_refreshed_text(
    db_sessions: Sessions, clock: FakeClock, slack: RunningSandbox, poster: SlackWebPoster
) -> None:
    from bot.outbox.store import refresh_pending_update

    await post(db_sessions, clock, "card", "v0")
    async with db_sessions() as session, session.begin():
        assert not await refresh_pending_update(
            session, channel=CHANNEL, target_key="card", message=Message("v1")
        )
        await enqueue_update(
            session, key="card:1", channel=CHANNEL, message=Message("v1"), target_key="card", now=clock.now()
        )
    async with db_sessions() as session, session.begin():
        assert await refresh_pending_update(
            session, channel=CHANNEL, target_key="card", message=Message("v2")
        )
    await sender(db_sessions, poster, clock).run_until_idle()
    assert [c.params["text"] for c in slack.sandbox.log.calls("chat.update", ok=True)] == ["v2"]
    assert len(await rows(db_sessions)) == 2  # the post and one edit row, not one row per refresh


async def test_thirty_runs_in_one_channel_all_move_and_a_summary_jumps_the_backlog(
    db_sessions: Sessions, clock: FakeClock
) -> None:
    """A site failover: thirty threads with a backlog each; every thread moves, summaries go first."""
    recorder = Recorder()
    out = sender(db_sessions, recorder, clock, rate_per_second=1.0)  # one a second: thirty in thirty seconds
    for run in range(30):
        await post(db_sessions, clock, f"card{run}", f"card {run}")
    await out.run_until_idle()  # the thirty cards are in Slack; now each thread has five replies waiting
    for run in range(30):  # written run by run: in the order written, run 0 would take five seconds first
        for n in range(5):
            await post(db_sessions, clock, f"r{run}:{n}", f"run {run} step {n}", parent_key=f"card{run}")
    first_wave = len(recorder.posts)
    for _ in range(30):
        clock.advance(1.0)
        await out.send_due()
    threads = [str(p["text"]).split(" step")[0] for p in recorder.posts[first_wave:]]
    assert sorted(set(threads)) == sorted(f"run {run}" for run in range(30))  # one each before any twice
    await post(db_sessions, clock, "summary29", "run 29 summary", parent_key="card29", priority=1)
    for _ in range(6):
        clock.advance(1.0)
        await out.send_due()
    recent = [str(p["text"]) for p in recorder.posts[-6:]]
    assert "run 29 summary" in recent  # after the rest of its own thread, ahead of 100 other posts
    order = [str(p["text"]) for p in recorder.posts if str(p["text"]).startswith("run 29")]
    assert order == [f"run 29 step {n}" for n in range(5)] + ["run 29 summary"]
    await out.run_until_idle()
    assert out.stats.max_posts_in(10.0) <= 10 + 3  # the channel's pace (burst of three) held throughout


async def test_card_edits_go_most_stale_first_within_the_workspaces_budget(
    db_sessions: Sessions, clock: FakeClock
) -> None:
    recorder = EditRecorder()
    out = sender(db_sessions, recorder, clock, update_rate=1.0, update_burst=1)
    for card in ("a", "b", "c"):
        await post(db_sessions, clock, card, card, channel=OTHER_CHANNEL if card == "b" else CHANNEL)
    await out.run_until_idle()
    for card, priority in (("c", 0), ("b", 0), ("a", 0)):  # c is the most stale: its change came first
        async with db_sessions() as session, session.begin():
            await enqueue_update(
                session,
                key=f"{card}:1",
                channel=OTHER_CHANNEL if card == "b" else CHANNEL,
                message=Message(f"{card}1"),
                target_key=card,
                now=clock.now(),
                priority=priority,
            )
        clock.advance(1.0)
    async with db_sessions() as session, session.begin():
        await enqueue_update(
            session,
            key="a:2",
            channel=CHANNEL,
            message=Message("a halted"),
            target_key="a",
            now=clock.now(),
            priority=1,
        )
    for _ in range(3):
        await out.send_due()
        clock.advance(1.0)
    assert recorder.edits == ["a halted", "c1", "b1"]


class EditRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.edits: list[str] = []

    async def update_message(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]] | None, key: str
    ) -> None:
        self.edits.append(text)
