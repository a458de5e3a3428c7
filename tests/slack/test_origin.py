"""Reading where a Slack request comes from, and telling the bot's own workspace from any other."""

from __future__ import annotations

import pytest

from bot.slack.origin import Envelope, Workspace, foreign_reason

OURS = Workspace(team_id="T0OURS", app_id="A0OURS")
GRID = Workspace(team_id="T0OURS", app_id="A0OURS", enterprise_id="E0OURS")


def command(**changes: str) -> dict[str, str]:
    fields = {
        "team_id": "T0OURS",
        "api_app_id": "A0OURS",
        "user_id": "U1",
        "channel_id": "C1",
        "command": "/vro",
        "text": "plans",
        "trigger_id": "1.2.abc",
        "is_enterprise_install": "false",
    }
    fields.update(changes)
    return fields


def click(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "block_actions",
        "api_app_id": "A0OURS",
        "team": {"id": "T0OURS", "domain": "ours"},
        "user": {"id": "U1", "team_id": "T0OURS"},
        "enterprise": None,
        "is_enterprise_install": False,
        "trigger_id": "9.9.xyz",
        "actions": [{"action_id": "vro_approve", "value": "r1"}],
    }
    body.update(changes)
    return body


def event(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "event_callback",
        "team_id": "T0OURS",
        "api_app_id": "A0OURS",
        "event_id": "Ev1",
        "event": {"type": "app_home_opened", "user": "U1"},
        "authorizations": [{"team_id": "T0OURS", "enterprise_id": None, "is_enterprise_install": False}],
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    "body",
    [command(), click(), event(), command(api_app_id="")],
    ids=["command", "click", "event", "no-app-named"],
)
def test_requests_from_the_bots_own_workspace_and_app_pass(body: dict[str, object]) -> None:
    envelope = Envelope.from_body(body)
    assert envelope.team_ids == {"T0OURS"}
    assert envelope.user_id == "U1"
    assert foreign_reason(envelope, OURS) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (command(team_id="T0THEIRS"), "team T0THEIRS is not T0OURS"),
        (command(api_app_id="A0THEIRS"), "app A0THEIRS is not A0OURS"),
        (command(team_id=""), "the request names no team"),
        (command(enterprise_id="E0GRID"), "enterprise E0GRID is not (none)"),
        (command(is_enterprise_install="true"), "an organization-wide install"),
        (click(user={"id": "U1", "team_id": "T0THEIRS"}), "team T0THEIRS is not T0OURS"),
        (click(enterprise={"id": "E0GRID", "name": "Grid"}), "enterprise E0GRID"),
        (click(team={"id": "T0OURS", "enterprise_id": "E0GRID"}), "enterprise E0GRID"),
        (event(authorizations=[{"team_id": "T0THEIRS"}]), "team T0THEIRS is not T0OURS"),
    ],
    ids=[
        "another-team",
        "another-app",
        "no-team",
        "an-enterprise",
        "org-wide-install",
        "a-user-of-another-team",
        "enterprise-object",
        "team-enterprise",
        "event-authorized-elsewhere",
    ],
)
def test_anything_naming_another_team_enterprise_or_app_is_foreign(
    body: dict[str, object], reason: str
) -> None:
    found = foreign_reason(Envelope.from_body(body), OURS)
    assert found is not None
    assert reason in found


def test_in_an_enterprise_only_its_own_enterprise_passes() -> None:
    assert foreign_reason(Envelope.from_body(command(enterprise_id="E0OURS")), GRID) is None
    assert foreign_reason(Envelope.from_body(command()), GRID) is None
    assert foreign_reason(Envelope.from_body(command(enterprise_id="E0OTHER")), GRID) is not None


def test_each_delivery_is_keyed_by_what_slack_made_unique_for_it() -> None:
    assert Envelope.from_body(command()).delivery_key == "command:T0OURS:1.2.abc"
    submission = {"type": "view_submission", "team": {"id": "T0OURS"}, "trigger_id": "7.7.sub"}
    assert Envelope.from_body(submission).delivery_key == "view_submission:T0OURS:7.7.sub"
    assert Envelope.from_body(click()).delivery_key == "block_actions:T0OURS:9.9.xyz"
    assert Envelope.from_body(event()).delivery_key == "event:T0OURS:Ev1"
    suggestion = {
        "type": "block_suggestion",
        "team": {"id": "T0OURS"},
        "api_app_id": "A0OURS",
        "value": "sap",
    }
    assert Envelope.from_body(suggestion).delivery_key is None  # options are read-only and not retried
    assert Envelope.from_body(command(trigger_id="")).delivery_key is None


def test_the_workspace_comes_from_auth_test_and_needs_a_team_and_an_app() -> None:
    answer = {"ok": True, "team_id": "T0OURS", "user_id": "U0BOT", "bot_id": "B0BOT", "app_id": "A0OURS"}
    assert Workspace.from_auth_test(answer) == Workspace(
        team_id="T0OURS", app_id="A0OURS", bot_user_id="U0BOT", bot_id="B0BOT"
    )
    without_app = {k: v for k, v in answer.items() if k != "app_id"}
    assert Workspace.from_auth_test(without_app, app_id="A0FROMBOTSINFO").app_id == "A0FROMBOTSINFO"
    assert Workspace.from_auth_test(without_app).app_id is None
    with pytest.raises(ValueError, match="which team"):
        Workspace.from_auth_test({"ok": True, "user_id": "U0BOT"})


def test_when_slack_will_not_name_the_app_the_team_and_enterprise_still_decide() -> None:
    unnamed = Workspace(team_id="T0OURS", app_id=None)
    assert foreign_reason(Envelope.from_body(command(api_app_id="A0ANY")), unnamed) is None
    assert foreign_reason(Envelope.from_body(command(team_id="T0THEIRS")), unnamed) is not None
