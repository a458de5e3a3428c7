"""app-manifest.yml matches Slack's manifest structure and asks for scopes that cover the bot."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import FakeClock
from bot.sandbox import RunningSandbox, SlackSandbox, create_sandbox, serve_sandbox
from bot.sandbox import manifest as manifest_module
from bot.sandbox.manifest import (
    DEFAULT_MANIFEST_PATH,
    ManifestError,
    load_manifest,
    manifest_commands,
    manifest_events,
    manifest_json_schema,
    manifest_scopes,
    parse_manifest,
)
from bot.sandbox.scopes import missing_scopes
from tests.sandbox.conftest import ALICE, OPS, QUIET, TOKEN

# The Web API methods the bot makes (Bolt's client, respond() aside, and the outbox).
BOT_METHODS = [
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.history",
    "conversations.replies",
    "usergroups.list",
    "usergroups.users.list",
    "views.open",
    "views.update",
    "views.push",
    "views.publish",
]


def raw_manifest() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_manifest_file_validates_against_the_model() -> None:
    manifest = load_manifest()
    assert manifest.display_information.name == "VRO Bot"
    assert manifest.settings is not None
    assert manifest.settings.socket_mode_enabled is True


def test_the_manifest_file_validates_against_the_json_schema() -> None:
    jsonschema.Draft202012Validator(manifest_json_schema()).validate(raw_manifest())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("display_information", "name"), "A name far longer than thirty-five characters"),
        (("features", "slash_commands", 0, "command"), "vro"),
        (("settings", "interactivity", "request_url"), "ftp://YOUR-HOST/slack/events"),
        (("settings", "surprise"), True),
    ],
)
def test_structural_mistakes_are_refused_by_the_model_and_the_schema(
    path: tuple[Any, ...], value: Any
) -> None:
    data = copy.deepcopy(raw_manifest())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ManifestError):
        parse_manifest(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(manifest_json_schema()).validate(data)


def test_http_mode_needs_every_request_url() -> None:
    data = copy.deepcopy(raw_manifest())
    data["settings"]["socket_mode_enabled"] = False
    parse_manifest(data)  # the URLs are there, ready for HTTP mode
    del data["settings"]["interactivity"]["request_url"]
    with pytest.raises(ManifestError, match="interactivity needs a request_url"):
        parse_manifest(data)


def test_a_slash_command_needs_the_commands_scope() -> None:
    data = copy.deepcopy(raw_manifest())
    data["oauth_config"]["scopes"]["bot"].remove("commands")
    with pytest.raises(ManifestError, match="'commands'"):
        parse_manifest(data)


def test_readers_expose_commands_events_and_scopes() -> None:
    assert manifest_commands() == frozenset({"/vro"})
    assert manifest_events() == frozenset({"app_home_opened"})
    assert manifest_scopes() == frozenset(
        {"commands", "chat:write", "channels:history", "groups:history", "usergroups:read"}
    )
    assert manifest_commands() == manifest_module.MANIFEST_COMMANDS
    assert manifest_events() == manifest_module.MANIFEST_EVENTS
    assert manifest_scopes() == manifest_module.MANIFEST_SCOPES


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "absent.yml")


def test_the_scopes_cover_every_method_the_bot_calls_in_public_and_private_channels() -> None:
    assert missing_scopes(BOT_METHODS, manifest_scopes(), conversations=("public", "private")) == {}
    assert missing_scopes(["users.info"], manifest_scopes()) == {"users.info": frozenset({"users:read"})}


async def test_a_sandbox_with_the_manifest_scopes_refuses_what_they_do_not_cover(clock: FakeClock) -> None:
    box: SlackSandbox = create_sandbox(
        clock=clock, users={ALICE: "alice"}, channels={OPS: "ops-dr"}, scopes=manifest_scopes()
    )
    box.workspace.add_channel(QUIET, "quiet", bot_is_member=False)
    with serve_sandbox(box) as running:
        client = client_for(running)
        assert (await client.chat_postMessage(channel=OPS, text="fine"))["ok"]
        with pytest.raises(SlackApiError) as no_scope:
            await client.users_info(user=ALICE)
        assert (no_scope.value.response["error"], no_scope.value.response["needed"]) == (
            "missing_scope",
            "users:read",
        )
        with pytest.raises(SlackApiError) as not_joined:
            await client.chat_postMessage(channel=QUIET, text="no chat:write.public")
        assert not_joined.value.response["error"] == "not_in_channel"


def client_for(running: RunningSandbox) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=running.api_url)
