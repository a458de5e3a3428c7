"""App Home and help: valid at scale, decisions only by request id, help generated from the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox.transcript import render_blocks
from bot.slack.blocks import ActionId, home_view
from bot.slack.blocks.replies import help_message
from bot.slack.blocks.validate import validate_view
from bot.slack.grammar import VERBS
from bot.slack.help import (
    README_BEGIN,
    README_END,
    command_reference_markdown,
    escape_mrkdwn,
    help_sections,
    help_text,
    readme_block,
    readme_reference,
)
from tests.slack import samples
from tests.slack.samples import NOW

README = Path(__file__).resolve().parents[2] / "README.md"


def test_home_names_the_vro_release_and_api_version_in_use() -> None:
    view = home_view(plans=samples.many_plans(2), updated_at=NOW, api_version="v7.21")
    validate_view(view)
    assert "VRO 7.2.1, REST API v7.21" in json.dumps(view)
    assert "REST API" not in json.dumps(home_view(plans=[], updated_at=NOW))


def test_home_with_a_thousand_plans_and_many_approvals_is_a_valid_view() -> None:
    approvals = [samples.card(request_id=f"r{i}", verb="failover" if i % 2 else "check") for i in range(50)]
    view = home_view(
        plans=samples.many_plans(1000), approvals=approvals, updated_at=NOW, problem="VRO answered slowly"
    )
    validate_view(view)
    body = json.dumps(view, ensure_ascii=False)
    assert "Showing 15 of 50 requests" in body
    assert "of 1,000 plans" in body
    decisions = [
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] in {ActionId.APPROVE, ActionId.DENY}
    ]
    assert len(decisions) == 30
    assert {e["value"] for e in decisions} == {f"r{i}" for i in range(15)}
    confirms = {e["value"]: "confirm" in e for e in decisions if e["action_id"] == ActionId.APPROVE}
    assert confirms == {f"r{i}": i % 2 == 1 for i in range(15)}


def test_home_lists_running_plans_apart() -> None:
    view = home_view(plans=[samples.plan("Busy", state="FailoverInProgress"), samples.plan("Idle")])
    body = json.dumps(view)
    running_at = body.index("Running now")
    assert body.index("Busy", running_at) < body.index("*Plans*")
    validate_view(view)


def test_an_empty_home_is_valid_and_says_so() -> None:
    view = home_view(plans=[])
    validate_view(view)
    assert "Nothing needs you right now" in json.dumps(view)


# --- help ---------------------------------------------------------------------------------------------


def test_the_overview_lists_every_verb() -> None:
    overview = help_text()
    for verb in VERBS:
        assert f"• `{verb}" in overview, verb
    assert all(len(s) < 3000 for s in help_sections())


@pytest.mark.parametrize("verb", list(VERBS))
def test_help_for_each_verb_comes_from_its_table_entry(verb: str) -> None:
    spec = VERBS[verb]
    text = help_text(verb)
    for line in spec.usage_lines:
        assert escape_mrkdwn(line) in text
    for option in spec.all_options:
        assert escape_mrkdwn(option.synopsis) in text
        assert escape_mrkdwn(option.help) in text
    for example in spec.examples:
        assert escape_mrkdwn(example) in text
    assert escape_mrkdwn(spec.help) in text
    assert ("Approving asks for confirmation" in text) is spec.destructive
    assert all(len(s) < 3000 for s in help_sections(verb))


def test_placeholders_show_as_typed_in_slack() -> None:
    """Slack reads ``<plan>`` as a link and shows ``plan``; the help escapes it, so it reads ``<plan>``."""
    shown = "\n".join(render_blocks(help_message("failover").blocks))
    assert "/vro failover <plan>" in shown
    overview = "\n".join(render_blocks(help_message().blocks))
    assert "`status <plan>`" in overview
    assert "<" not in help_text().replace("&lt;", "")


def test_the_readme_reference_has_a_row_per_verb_and_every_option() -> None:
    markdown = command_reference_markdown()
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert len(rows) == len(VERBS)
    for spec in VERBS.values():
        for form in spec.forms:
            assert form.synopsis(spec.verb).replace("|", "\\|") in markdown
        for option in spec.options:
            assert option.synopsis in markdown


def test_the_readme_block_reads_back() -> None:
    block = readme_block()
    assert block.startswith(README_BEGIN)
    assert block.endswith(README_END)
    assert readme_reference(f"# Title\n\n{block}\n\nmore") == command_reference_markdown()
    assert readme_reference("no markers here") is None


def test_the_readme_holds_the_current_command_reference() -> None:
    """README.md must contain readme_block() verbatim (paste it again after changing the grammar)."""
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    if README_BEGIN not in text:
        pytest.skip("README.md has no command reference markers yet (the lead pastes readme_block() there)")
    assert readme_reference(text) == command_reference_markdown()
