"""Arbitrary command text through the real app: always a clear answer, never a crash.

Hypothesis types whatever it likes after ``/vro`` (quotes of every kind, dashes, unicode, very
long strings, known verbs followed by junk) as a viewer or an operator, and the test checks what
the person would see: Slack gets a 200, the ack carries a text or exactly one reply arrives
(private, or in the channel with ``--public``; a blank command opens the form instead), nothing is logged as a failure and no reply
is the "something went wrong" apology.

One offline stack serves every example of a test (building it per example would cost seconds),
so each example compares counts before and after itself.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.approvals import messages as msg
from bot.sandbox.content import find_element
from bot.sandbox.requests import FORM, SlackRequest
from bot.simulator.estate import default_estate
from bot.slack.blocks.kit import ActionId, plan_action_id
from bot.slack.controller import UNEXPECTED
from bot.slack.grammar import VERBS, Choice, RefKind, ValueType
from tests.e2e.conftest import CHANNEL, OPERATOR, OTHER_CHANNEL, VIEWER, Stack

PLAN_NAMES = ["SAP Tier1", "sap tier1", "SAP", "Exchange Failover", "Web Frontend", "Tier1", "nope", ""]
OTHER_NAMES = ["Tier1 DB", "sap-app-01", "Shutdown VM", "nope", "*", ""]
TIMES = ["14:00", "tomorrow 09:30", "yesterday 23:00", "2026-11-27T14:00+02:00", "25:99", "soon"]
QUOTES = "\"'“”‘’„‟‚‛«»`"
DASHES = "-—–‐‑−"
TRICKY = QUOTES + DASHES + " =\\&<>*?%\t\n"

tricky_text = st.text(alphabet=st.sampled_from(list(TRICKY) + list("abcAB12 ")), max_size=60)
unicode_text = st.text(max_size=120)
long_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=3_000, max_size=6_000)
junk = st.one_of(tricky_text, unicode_text, st.sampled_from([*PLAN_NAMES, "--", "--nonsense", "at", "after"]))


@st.composite
def quoted(draw: st.DrawFn, words: list[str]) -> str:
    """One of ``words``, bare or in straight, smart or unbalanced quotes."""
    word = draw(st.sampled_from(words))
    opening, closing = draw(st.sampled_from([('"', '"'), ("“", "”"), ("'", "'"), ("", ""), ('"', "")]))
    return f"{opening}{word}{closing}"


def value_for(draw: st.DrawFn, kind: ValueType, ref: RefKind | None, choices: tuple[Choice, ...]) -> str:
    """A plausible value (sometimes a wrong one) for an argument or option of the grammar table."""
    if kind is ValueType.DATETIME:
        return draw(quoted(TIMES))
    if kind is ValueType.CHOICE:
        return draw(st.sampled_from([s for c in choices for s in c.spellings()] + ["maybe"]))
    return draw(quoted(PLAN_NAMES if ref is RefKind.PLAN else OTHER_NAMES))


@st.composite
def table_command(draw: st.DrawFn, *, junk_words: bool) -> str:
    """A command built from the grammar table: a verb in any case, its arguments, some of its options.

    With ``junk_words`` arbitrary words are mixed in; without, most commands are well formed and
    reach VRO, the approval service and the replies.
    """
    spec = draw(st.sampled_from([VERBS[v] for v in sorted(VERBS)]))
    words = [draw(st.sampled_from([spec.verb, spec.verb.upper(), spec.verb.title()]))]
    form = draw(st.sampled_from(spec.forms))
    for index, arg in enumerate(form.args):
        if index == 1 and form.keyword:
            words.append(form.keyword)
        if arg.required or draw(st.booleans()):
            words.append(value_for(draw, arg.type, arg.ref, arg.choices))
    options = (
        draw(st.lists(st.sampled_from(spec.all_options), max_size=3, unique=True)) if spec.all_options else []
    )
    for option in options:
        flag = draw(st.sampled_from([option.flag, option.flag.upper(), "—" + option.name]))
        words.append(flag)
        if option.type is not ValueType.FLAG:
            words.append(value_for(draw, option.type, option.ref, option.choices))
    if junk_words:
        for word in draw(st.lists(junk, max_size=4)):
            words.insert(draw(st.integers(0, len(words))), word)
    return " ".join(words)


command_text = st.one_of(
    table_command(junk_words=False),
    table_command(junk_words=False),
    table_command(junk_words=True),
    tricky_text,
    unicode_text,
    long_text,
)

FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def ack_text(body: str) -> str:
    """The text of a command's ack: Bolt answers plain text, ``{"text": ...}`` with blocks, or nothing."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    return str(data.get("text") or "").strip() if isinstance(data, dict) else body.strip()


def slack_calls(stack: Stack) -> int:
    """Slack Web API calls, leaving out the ``auth.test`` Bolt makes once to learn who it is."""
    return sum(1 for call in stack.sandbox.log.calls() if call.method != "auth.test")


def failures(records: list[logging.LogRecord]) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if r.levelno >= logging.ERROR or ("failed" in r.getMessage() and r.name.startswith("bot.slack"))
    ]


@FUZZ_SETTINGS
@given(text=command_text, user=st.sampled_from([VIEWER, OPERATOR]))
async def test_any_command_text_gets_exactly_one_clear_answer(
    stack: Stack, caplog: pytest.LogCaptureFixture, text: str, user: str
) -> None:
    """Whatever follows /vro: a 200, no failure logged, and an ack text or exactly one reply."""
    caplog.clear()
    workspace = stack.sandbox.workspace
    replies_before = len(workspace.ephemerals_for(CHANNEL, user))
    posts_before = len(workspace.top_level(CHANNEL))
    modals_before = stack.sandbox.log.count("views.open")

    response = await stack.driver.command(text, user_id=user, channel_id=CHANNEL)
    await stack.settle()

    assert response.status_code == 200, (text, response.status_code, response.text)
    assert failures(caplog.records) == [], text
    # A reply is private, or a channel message with --public (cards and status cards come from
    # the outbox, which marks its messages with their key in Slack metadata).
    replies = [m.text for m in workspace.ephemerals_for(CHANNEL, user)[replies_before:]]
    replies += [m.text for m in workspace.top_level(CHANNEL)[posts_before:] if not m.metadata]
    assert all(UNEXPECTED not in r and r.strip() for r in replies), (text, replies)
    acked = ack_text(response.text)
    event("modal" if not text.strip() else "answered in the ack" if acked else "answered by a reply")
    if not text.strip():
        assert stack.sandbox.log.count("views.open", ok=True) == modals_before + 1, text
    elif acked:
        assert UNEXPECTED not in acked
    else:
        assert len(replies) == 1, (text, replies)
    assert UNEXPECTED not in str([m.blocks for m in workspace.top_level(CHANNEL)[posts_before:]])


@FUZZ_SETTINGS
@given(text=table_command(junk_words=True))
async def test_a_refused_channel_is_told_so_whatever_the_text(
    stack: Stack, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    """Outside the policy's channels every text gets the same refusal in the ack, and nothing else."""
    caplog.clear()
    calls_before = slack_calls(stack)
    sim_before = len(stack.sim.requests)
    response = await stack.driver.command(text, user_id=OPERATOR, channel_id=OTHER_CHANNEL)
    await stack.settle()
    assert response.status_code == 200
    assert ack_text(response.text) == msg.CHANNEL_NOT_ALLOWED, text
    assert slack_calls(stack) == calls_before
    assert len(stack.sim.requests) == sim_before
    assert failures(caplog.records) == []


@pytest.mark.parametrize("text", ["status payload", 'plans "payload"', "help payload", "payload"])
async def test_the_word_payload_is_an_ordinary_word(stack: Stack, text: str) -> None:
    """Found by the fuzzer: Bolt read any form body mentioning "payload" as an empty interaction (404)."""
    response = await stack.driver.command(text, user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    assert response.status_code == 200
    assert ack_text(response.text) or len(stack.ephemerals(VIEWER)) == 1


# --- buttons ---------------------------------------------------------------------------------------

BUTTON_IDS = [
    ActionId.APPROVE.value,
    ActionId.DENY.value,
    ActionId.PAGE_NEXT.value,
    ActionId.PAGE_PREV.value,
    *(plan_action_id(verb) for verb in ("status", "groups", "vms", "watch", "failover", "undo", "continue")),
    plan_action_id("continue") + ":RetryFailedStep",
]


@st.composite
def button_value(draw: st.DrawFn) -> str:
    """What a tampered or stale button could carry: junk, page requests, ids of the right shape."""
    page = st.builds(
        lambda c, p: json.dumps({"c": c, "p": p}),
        st.one_of(table_command(junk_words=False), unicode_text),
        st.integers(-3, 10_000),
    )
    plan_ids = st.sampled_from([*(plan.id for plan in default_estate().plans[:3]), "not-a-plan", ""])
    plan_json = st.builds(lambda p, o: json.dumps({"plan_id": p, "option": o}), plan_ids, unicode_text)
    value: str = draw(
        st.one_of(
            unicode_text,
            tricky_text,
            page,
            plan_json,
            plan_ids,
            st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True),
        )
    )
    return value


def rewritten_click(stack: Stack, user: str, message_ts: str, action_id: str, value: str) -> SlackRequest:
    """A click on the first button of a plan view the user was shown, with another id and value."""
    built = stack.driver.build_click(
        user_id=user,
        channel_id=CHANNEL,
        message_ts=message_ts,
        action_id=plan_action_id("status"),
        ephemeral=True,
    )
    payload = dict(built.payload)
    payload["actions"] = [{**payload["actions"][0], "action_id": action_id, "value": value}]
    return SlackRequest(
        kind="block_actions",
        body=urlencode({"payload": json.dumps(payload)}).encode(),
        content_type=FORM,
        payload=payload,
        response_url=built.response_url,
        trigger_id=built.trigger_id,
    )


@FUZZ_SETTINGS
@given(action_id=st.sampled_from(BUTTON_IDS), value=button_value(), user=st.sampled_from([VIEWER, OPERATOR]))
async def test_any_button_value_gets_an_answer_and_no_failure(
    stack: Stack, caplog: pytest.LogCaptureFixture, action_id: str, value: str, user: str
) -> None:
    """Nothing in a button's value is trusted: any value on any of our buttons is answered kindly."""
    workspace = stack.sandbox.workspace
    detail = await plan_view(stack, user)
    caplog.clear()
    replies_before = len(workspace.ephemerals_for(CHANNEL, user))
    posts_before = len(workspace.top_level(CHANNEL))
    modals_before = stack.sandbox.log.count("views.open", ok=True)

    response = await stack.driver.send(rewritten_click(stack, user, detail, action_id, value))
    await stack.settle()

    assert response.status_code == 200
    assert failures(caplog.records) == [], (action_id, value)
    replies = [m.text for m in workspace.ephemerals_for(CHANNEL, user)[replies_before:]]
    posts = workspace.top_level(CHANNEL)[posts_before:]
    modals = stack.sandbox.log.count("views.open", ok=True) - modals_before
    assert all(UNEXPECTED not in r for r in replies), replies
    assert len(replies) + len(posts) + modals >= 1, (action_id, value)
    event(f"{action_id}: " + ("form" if modals else "reply" if replies else "channel"))


async def plan_view(stack: Stack, user: str) -> str:
    """The ts of the plan view ``user`` was shown (asked for on first use)."""
    for reply in stack.sandbox.workspace.ephemerals_for(CHANNEL, user):
        if reply.text.startswith("SAP Tier1:") and find_element(reply.blocks, plan_action_id("status")):
            return reply.ts
    await stack.driver.command('plan "SAP Tier1"', user_id=user, channel_id=CHANNEL)
    await stack.settle()
    return stack.sandbox.workspace.ephemerals_for(CHANNEL, user)[-1].ts
