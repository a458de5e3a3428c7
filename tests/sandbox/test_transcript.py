"""The transcript renders a channel as Slack would show it, in plain text and with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bot.sandbox import SlackSandbox
from bot.sandbox.transcript import render_blocks, render_channel
from tests.sandbox.conftest import ALICE, BOB, OPS

CARD: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Failover: SAP Tier1"}},
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": f"<@{ALICE}> asks to run *failover* on *SAP Tier1*.\nReason: INC-42",
        },
        "fields": [
            {"type": "mrkdwn", "text": "*Approvals*\n0 of 2"},
            {"type": "mrkdwn", "text": "*State*\nReady"},
        ],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Request r-1 &amp; friends"}]},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "vro_approve",
                "value": "r-1",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "vro_deny",
                "value": "r-1",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Deny"},
            },
        ],
    },
]


def test_channel_with_a_card_its_thread_and_numbered_buttons(sandbox: SlackSandbox) -> None:
    ws = sandbox.workspace
    card = ws.post_message(channel=OPS, text="Failover requested", blocks=CARD)
    ws.post_message(channel=OPS, text="Group *Tier1 DB* started", thread_ts=card.ts)
    ws.post_message(channel=OPS, text=f"Approved by <@{BOB}>", thread_ts=card.ts)
    ws.post_message(channel=OPS, text="plain top-level note")

    transcript = render_channel(ws, OPS)

    assert transcript.lines == [
        "[12:00:00] vro",
        "  Failover: SAP Tier1",
        "  @alice asks to run *failover* on *SAP Tier1*.",
        "  Reason: INC-42",
        "  *Approvals* 0 of 2            *State* Ready",
        "  Request r-1 & friends",
        "  1:[Approve]  2:[Deny]",
        "│ [12:00:00] vro: Group *Tier1 DB* started",
        "│ [12:00:00] vro: Approved by @bob",
        "[12:00:00] vro: plain top-level note",
    ]
    assert transcript.text.startswith("#ops-dr\n")
    approve = transcript.buttons[1]
    assert (approve.message_ts, approve.action_id, approve.value, approve.style) == (
        card.ts,
        "vro_approve",
        "r-1",
        "primary",
    )
    assert transcript.buttons[2].action_id == "vro_deny"


def test_ephemeral_messages_show_only_for_their_viewer(sandbox: SlackSandbox) -> None:
    ws = sandbox.workspace
    ws.post_message(channel=OPS, text="public")
    ws.post_ephemeral(channel=OPS, user=ALICE, text="just for alice")

    for_alice = render_channel(ws, OPS, viewer=ALICE).lines
    for_bob = render_channel(ws, OPS, viewer=BOB).lines

    assert for_alice == ["[12:00:00] vro: public", "[12:00:00] vro (only visible to you): just for alice"]
    assert for_bob == ["[12:00:00] vro: public"]


def test_edits_and_broadcast_replies_are_marked(sandbox: SlackSandbox) -> None:
    ws = sandbox.workspace
    card = ws.post_message(channel=OPS, text="pending")
    ws.update_message(channel=OPS, ts=card.ts, text="approved")
    ws.post_message(channel=OPS, text="finished", thread_ts=card.ts, reply_broadcast=True)

    assert render_channel(ws, OPS).lines == [
        "[12:00:00] vro (edited): approved",
        "│ [12:00:00] vro: finished",
        "[12:00:00] vro (replied to a thread): finished",
    ]


def test_render_blocks_handles_inputs_selects_dividers_and_accessories() -> None:
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Pick a plan"},
            "accessory": {
                "type": "button",
                "action_id": "more",
                "text": {"type": "plain_text", "text": "More"},
            },
        },
        {"type": "divider"},
        {
            "type": "input",
            "label": {"type": "plain_text", "text": "Plan"},
            "element": {
                "type": "external_select",
                "action_id": "plan",
                "placeholder": {"type": "plain_text", "text": "Search plans"},
            },
        },
    ]
    assert render_blocks(blocks) == ["Pick a plan 1:[More]", "─" * 24, "Plan: [Search plans]"]


def test_rich_rendering_prints_the_same_content(sandbox: SlackSandbox) -> None:
    ws = sandbox.workspace
    ws.post_message(channel=OPS, text="Failover requested", blocks=CARD)
    console = Console(width=80, record=True, color_system=None)
    console.print(render_channel(ws, OPS).rich())
    printed = console.export_text()
    assert "#ops-dr" in printed
    assert "1:[Approve]  2:[Deny]" in printed
    assert "asks to run failover on SAP Tier1." in printed  # *bold* shown as bold, markers gone
