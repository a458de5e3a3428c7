"""``app-manifest.yml`` against the running code: command, events, interactivity and bot scopes.

The manifest is what a Slack admin installs; if it drifts from the code the bot breaks in ways
no unit test sees (a command Slack never sends, an event never delivered, ``missing_scope`` in
the middle of a failover). These tests ask the real app which commands and events it answers
(signed requests through the driver, where an unhandled request gets Bolt's 404), and run the
main flows against a sandbox that grants only the manifest's scopes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path

import pytest

from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.offline import offline_stack
from bot.sandbox.api import RESPONSE_URL_METHOD
from bot.sandbox.faults import Fault
from bot.sandbox.manifest import load_manifest, manifest_commands, manifest_events, manifest_scopes
from bot.sandbox.scopes import missing_scopes, required_scope
from bot.slack.app import EVENTS
from bot.slack.blocks.kit import ActionId
from bot.slack.grammar import COMMAND
from bot.watcher.service import WatcherConfig
from bot.watcher.tables import active_watches
from tests.e2e.conftest import CHANNEL, LEAD1, LEAD2, OPERATOR, OUTSIDER, POLICY, VIEWER, Stack

PRIVATE = "G0PRIVATE"
"""A private channel: conversation methods need the ``groups:*`` scopes there."""

# Slash commands and Events API event types the app could plausibly have been written for;
# only the ones in the manifest may be answered.
OTHER_COMMANDS = ("/veeam", "/vro-test", "/dr", "/orchestrator")
OTHER_EVENTS = (
    "app_mention",
    "app_uninstalled",
    "channel_archive",
    "channel_created",
    "member_joined_channel",
    "member_left_channel",
    "message",
    "reaction_added",
    "reaction_removed",
    "subteam_members_changed",
    "subteam_updated",
    "team_join",
    "tokens_revoked",
    "user_change",
)
MAX_WATCH_TICKS = 2_000


def event_body(event_type: str) -> dict[str, str]:
    """A minimal event of ``event_type`` from a person, in the war room."""
    return {"type": event_type, "user": VIEWER, "channel": CHANNEL, "tab": "home", "text": "hello"}


async def test_the_manifest_declares_exactly_the_slash_command_the_app_answers(stack: Stack) -> None:
    assert manifest_commands() == {COMMAND}
    answered = set()
    for command in (*OTHER_COMMANDS, *manifest_commands()):
        response = await stack.driver.command("help", user_id=VIEWER, channel_id=CHANNEL, command=command)
        await stack.settle()
        if response.status_code == 200:
            answered.add(command)
        else:
            assert response.status_code == 404, (command, response.status_code)
    assert answered == manifest_commands()


async def test_the_manifest_subscribes_to_exactly_the_events_the_app_handles(stack: Stack) -> None:
    """``EVENTS`` names the app's events; the manifest lists them, and the app handles no other."""
    assert manifest_events() == EVENTS
    handled = set()
    for event_type in sorted({*OTHER_EVENTS, *EVENTS}):
        response = await stack.driver.event(event_body(event_type))
        await stack.settle()
        if response.status_code == 200:
            handled.add(event_type)
        else:
            assert response.status_code == 404, (event_type, response.status_code)
    assert handled == EVENTS


async def test_interactivity_and_the_options_url_are_on_because_the_app_uses_them(stack: Stack) -> None:
    """Buttons and the modal need interactivity; the plan picker's external select needs options."""
    manifest = load_manifest()
    assert manifest.settings is not None
    assert manifest.settings.interactivity is not None
    assert manifest.settings.interactivity.is_enabled
    assert manifest.settings.interactivity.message_menu_options_url is not None
    assert manifest.features is not None
    assert manifest.features.app_home is not None
    assert manifest.features.app_home.home_tab_enabled

    response = await stack.driver.suggest(
        user_id=VIEWER, action_id=ActionId.MODAL_PLAN, value="SAP", block_id="plan"
    )
    assert response.status_code == 200
    assert response.json()["options"], "the plan picker got no options"


# --- scopes ----------------------------------------------------------------------------------


@pytest.fixture
async def scoped(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Stack]:
    """The offline stack whose Slack grants only the manifest's bot scopes, with a private channel."""
    policy = Policy.from_yaml(POLICY.replace(f"channels: [{CHANNEL}]", f"channels: [{CHANNEL}, {PRIVATE}]"))
    async with offline_stack(
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        clock=clock,
        policy=policy,
        users={OPERATOR: "olivia", LEAD1: "lee", LEAD2: "priya", VIEWER: "sam", OUTSIDER: "otto"},
        channels={CHANNEL: "dr-war-room"},
        watcher_config=WatcherConfig(poll_seconds=5.0, batch_seconds=0.0, card_interval=0.0),
        instance_id="manifest",
        slack_scopes=manifest_scopes(),
    ) as offline:
        offline.sandbox.workspace.add_channel(PRIVATE, "dr-private", is_private=True)
        offline.sandbox.workspace.add_usergroup("S0APPROVERS", "dr-approvers", [LEAD2])
        yield Stack(**{f.name: getattr(offline, f.name) for f in fields(offline)})


async def failover_in_private_channel_with_a_lost_first_post(stack: Stack) -> None:
    """Request, three clicks (one refused via the user groups), then watch to the end.

    The first narration post answers 500, so the outbox looks its message up in the thread
    (``conversations.replies``) before posting again.
    """
    await stack.driver.command(
        'failover "SAP Tier1" --reason "INC-42 site A lost"', user_id=OPERATOR, channel_id=PRIVATE
    )
    await stack.settle()
    card = stack.sandbox.workspace.find_message_with_action(PRIVATE, ActionId.APPROVE)[-1]
    for user in (OUTSIDER, LEAD1, LEAD2):
        await stack.driver.click(
            user_id=user, channel_id=PRIVATE, message_ts=card.ts, action_id=ActionId.APPROVE
        )
        await stack.settle()
    assert await active_watches(stack.bot.sessions) == 1
    stack.sandbox.inject("chat.postMessage", Fault.server_error())
    for _ in range(MAX_WATCH_TICKS):
        if await active_watches(stack.bot.sessions) == 0:
            break
        stack.fake_clock.advance(5.0)
        await stack.pump()
    assert await active_watches(stack.bot.sessions) == 0
    await stack.bot.sender.run_until_idle()


async def test_every_flow_works_with_only_the_manifest_scopes(scoped: Stack) -> None:
    """Queries, a failover approved and narrated in a private channel, the Home tab and the form;
    and the manifest asks for no scope beyond what those flows use."""
    await scoped.driver.command('status "SAP Tier1" --public', user_id=VIEWER, channel_id=CHANNEL)
    await scoped.settle()
    scoped.sandbox.inject(
        RESPONSE_URL_METHOD, Fault.server_error()
    )  # the reply falls back to chat.postEphemeral
    await scoped.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    await scoped.driver.command("", user_id=OPERATOR, channel_id=CHANNEL)
    await scoped.driver.app_home_opened(user_id=LEAD1)
    await scoped.settle()
    await failover_in_private_channel_with_a_lost_first_post(scoped)

    calls = scoped.sandbox.log.calls()
    refused = [(c.method, c.params.get("channel")) for c in calls if c.error == "missing_scope"]
    assert refused == []
    called = {c.method for c in calls if c.method != RESPONSE_URL_METHOD}  # response_urls need no scope
    # The flows above really exercised every kind of call the bot makes.
    assert {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "conversations.replies",
        "usergroups.list",
        "usergroups.users.list",
        "views.open",
        "views.publish",
    } <= called, called
    assert missing_scopes(called, manifest_scopes(), conversations=("public", "private")) == {}
    # Least privilege: every scope asked for is /vro's own or needed by a call the bot made
    # (the outbox's thread lookup may happen in a public or a private channel).
    needed = {"commands"}.union(*(required_scope(m, kind) for m in called for kind in ("public", "private")))
    assert manifest_scopes() <= needed, manifest_scopes() - needed
    assert any(
        "Failover of SAP Tier1 finished" in m.text for m in scoped.sandbox.workspace.top_level(PRIVATE)
    )
