"""The App Home tab: approvals waiting for the viewer, running plans, and every plan's state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from bot.slack.blocks.approvals import ApprovalCardView, decision_buttons, mention
from bot.slack.blocks.kit import (
    MAX_SECTION_TEXT,
    ActionId,
    Block,
    actions,
    button,
    clip,
    context,
    cut_notice,
    divider,
    esc,
    header,
    last_run_note,
    pack_sections,
    plan_emoji,
    plan_state_label,
    plan_type_label,
    plural,
    section,
    verb_title,
    when,
)
from bot.vro import plan_states
from bot.vro.models import Plan
from bot.vro.operations import product_name

MAX_HOME_APPROVALS: Final = 15  # two blocks each
MAX_HOME_RUNNING: Final = 40
MAX_HOME_PLAN_SECTIONS: Final = 20


def _approval_blocks(view: ApprovalCardView) -> list[Block]:
    reason = f"\n*Reason:* {esc(clip(view.reason, 300))}" if view.reason else ""
    text = (
        f"*{esc(verb_title(view.verb))}* plan *{esc(view.plan_name)}* (now {esc(view.plan_state)}) "
        f"asked by {mention(view.requester)}{reason}\n"
        f"{len(view.approvers)} of {view.approvals_required} approvals · expires {when(view.expires_at)}"
    )
    return [
        section(clip(text, MAX_SECTION_TEXT)),
        decision_buttons(view, block_id=f"home_decide:{view.request_id}:{len(view.approvers)}"),
    ]


def _plan_line(plan: Plan) -> str:
    state = plan_state_label(plan.state, plan.stateName)
    kind = plan_type_label(plan.planType)
    return f"{plan_emoji(plan.state)} *{esc(plan.name)}* — {esc(state)} · {esc(kind)}{last_run_note(plan.currentRunResult)}"


def home_view(
    *,
    plans: Sequence[Plan],
    approvals: Sequence[ApprovalCardView] = (),
    updated_at: datetime | None = None,
    problem: str | None = None,
    api_version: str | None = None,
) -> dict[str, Any]:
    """The Home tab for one viewer. ``approvals`` are those the viewer may decide (the caller filters).

    ``problem`` is a short sentence shown on top when something could not be read (VRO down);
    ``api_version`` the VRO REST API version in use (``v13.1``), once known.
    """
    blocks: list[Block] = [header("Veeam Recovery Orchestrator")]
    refreshed = f"Updated {when(updated_at)}" if updated_at else "Open the tab again to refresh"
    speaking = f" · {product_name(api_version)}, REST API {api_version}" if api_version else ""
    blocks.append(context(f"{refreshed}{speaking} · `/vro help` lists the commands"))
    blocks.append(actions([button("Refresh", ActionId.HOME_REFRESH, "refresh")], block_id="home_refresh"))
    if problem:
        blocks.append(section(f":warning: {esc(problem)}"))

    blocks += [divider(), section(f"*Waiting for your decision* ({len(approvals)})")]
    if approvals:
        for view in approvals[:MAX_HOME_APPROVALS]:
            blocks += _approval_blocks(view)
        if len(approvals) > MAX_HOME_APPROVALS:
            blocks.append(
                cut_notice(MAX_HOME_APPROVALS, len(approvals), "request", "`/vro approvals` lists them all.")
            )
    else:
        blocks.append(context("Nothing needs you right now."))

    running = [p for p in plans if p.state and plan_states.is_running(p.state)]
    blocks += [divider(), section(f"*Running now* ({len(running)})")]
    if running:
        blocks += pack_sections(_plan_line(p) for p in running[:MAX_HOME_RUNNING])
        if len(running) > MAX_HOME_RUNNING:
            blocks.append(cut_notice(MAX_HOME_RUNNING, len(running), "running plan"))
    else:
        blocks.append(context("No plan is running."))

    blocks += [divider(), section(f"*Plans* ({plural(len(plans), 'plan')})")]
    plan_sections = pack_sections(_plan_line(p) for p in plans)
    blocks += plan_sections[:MAX_HOME_PLAN_SECTIONS]
    if len(plan_sections) > MAX_HOME_PLAN_SECTIONS:
        shown = sum(block["text"]["text"].count("\n") + 1 for block in plan_sections[:MAX_HOME_PLAN_SECTIONS])
        blocks.append(cut_notice(shown, len(plans), "plan", "`/vro plans` pages through them all."))
    if not plans:
        blocks.append(context("VRO has no plans I can see."))
    return {"type": "home", "blocks": blocks}


def access_home_view(text: str) -> dict[str, Any]:
    """The Home tab for someone who may not read VRO from Slack: why, and whom to ask. No data."""
    return {
        "type": "home",
        "blocks": [header("Veeam Recovery Orchestrator"), section(f":lock: {esc(text)}")],
    }
