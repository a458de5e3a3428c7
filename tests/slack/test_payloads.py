"""Slack payloads are read once into typed values; odd or missing fields read as empty."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.slack.payloads import Click, Command, HomeOpened, Submission, Suggestion, user_of

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["user", "user_id", "channel", "channel_id", "container", "actions", "view", "event", "text", "value"]
)


def test_a_command_reads_its_form_fields() -> None:
    command = Command.from_body(
        {
            "user_id": "U1",
            "channel_id": "C1",
            "text": "status SAP",
            "trigger_id": "T.1",
            "response_url": "https://hooks.slack.com/commands/1",
        }
    )
    assert command == Command(
        user="U1",
        channel="C1",
        text="status SAP",
        trigger_id="T.1",
        response_url="https://hooks.slack.com/commands/1",
    )


def test_a_command_without_a_response_url_has_none() -> None:
    assert Command.from_body({"user_id": "U1", "response_url": ""}).response_url is None


def test_a_message_click_names_the_channel_the_element_and_its_value() -> None:
    click = Click.from_body(
        {
            "user": {"id": "U2"},
            "channel": {"id": "C2"},
            "container": {"type": "message", "channel_id": "C9"},
            "actions": [{"action_id": "vro_approve", "value": "req-12345678"}],
            "response_url": "https://hooks.slack.com/actions/2",
        }
    )
    assert (click.user, click.channel, click.action_id, click.value) == (
        "U2",
        "C2",
        "vro_approve",
        "req-12345678",
    )
    assert not click.in_view


def test_a_click_without_a_channel_takes_the_containers() -> None:
    click = Click.from_body({"user": {"id": "U2"}, "container": {"type": "message", "channel_id": "C9"}})
    assert click.channel == "C9"


def test_a_click_in_the_home_tab_is_in_a_view_and_carries_it() -> None:
    click = Click.from_body(
        {"user": {"id": "U2"}, "container": {"type": "view"}, "view": {"id": "V1", "hash": "h1"}}
    )
    assert click.in_view
    assert (click.view_id, click.view_hash) == ("V1", "h1")


def test_a_submission_a_suggestion_and_a_home_tab_read_their_parts() -> None:
    assert Submission.from_body({"user": {"id": "U3"}, "view": {"id": "V"}}) == Submission(
        user="U3", view={"id": "V"}
    )
    assert Suggestion.from_body({"user": {"id": "U3"}, "value": "SAP"}) == Suggestion(user="U3", query="SAP")
    opened = HomeOpened.from_body({"event_id": "Ev1", "event": {"user": "U4"}})
    assert opened == HomeOpened(user="U4", tab="home", event_id="Ev1")


def test_the_user_of_any_request() -> None:
    assert user_of({"user_id": "U1"}) == "U1"
    assert user_of({"user": {"id": "U2"}}) == "U2"
    assert user_of({"event": {"user": "U3"}}) == "U3"
    assert user_of({"user": "not a mapping"}) == ""


def test_structured_or_null_fields_read_as_empty() -> None:
    click = Click.from_body({"user": None, "actions": [{"action_id": {"x": 1}, "value": None}], "view": []})
    assert (click.user, click.action_id, click.value, click.view) == ("", "", "", {})


@given(st.dictionaries(KEYS, JSON, max_size=6))
def test_no_payload_shape_makes_reading_fail(body: dict[str, Any]) -> None:
    for model in (Command, Click, Submission, Suggestion, HomeOpened):
        model.from_body(body)
