"""The buttons of a plan's detail and of a halt notice: show like the typed command, ask at
once (Continue, Undo, readiness check), or open the form for that plan and action."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack.blocks.kit import PLAN_ACTION_PATTERN
from bot.slack.controller import Invoker
from bot.slack.grammar import VERBS, Kind, ParseError, parse
from bot.slack.listeners.edge import BROKEN_BUTTON, PLAN_ID_RE, Edge, notice, refuse_broken_button
from bot.slack.listeners.modal import ModalListeners
from bot.slack.payloads import Click

# ``vro_action:<verb>`` (plan detail) and ``vro_action:continue:<option>`` (halt notices).
PLAN_BUTTON_RE: Final = re.compile(PLAN_ACTION_PATTERN)
DIRECT_ACTIONS: Final = frozenset({"continue", "undo", "check"})  # plan buttons that request without the form


class PlanButtonListeners:
    """Every ``vro_action:...`` button."""

    def __init__(self, edge: Edge, modal: ModalListeners) -> None:
        self.edge = edge
        self.modal = modal

    def register(self, app: AsyncApp) -> None:
        app.action(PLAN_BUTTON_RE)(self.on_click)

    async def on_click(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = Click.from_body(body)
        parts = self.edge.parts
        verb, plan_id, option = plan_button(click.action_id, click.value)
        reply = self.edge.responder(click.channel, click.user, click.response_url)
        spec = VERBS.get(verb)
        if spec is None or not PLAN_ID_RE.match(plan_id):
            await refuse_broken_button(parts, click.user, click.value, surface=f"button.{click.action_id}")
            parts.work.spawn(notice(reply, BROKEN_BUTTON), name="plan.broken")
            return
        who = Invoker(click.user, click.channel, response_url=click.response_url)
        reason_required = bool(spec.policy_verb and parts.policy.rule(spec.policy_verb).reason_required)
        if spec.kind is not Kind.ACTION or (verb in DIRECT_ACTIONS and not reason_required):
            # A view button (status, groups, watch, ...) is answered like the typed command; a
            # halt notice's Continue / Undo and "Run readiness check now" ask at once (the card
            # follows; the check is its own request under the policy).
            text = f"{verb} {plan_id}" + (f" {option}" if verb == "continue" and option else "")
            parsed = parse(text, now=parts.clock.now())
            if isinstance(parsed, ParseError):
                parts.work.spawn(notice(reply, parsed.render()), name="plan.broken")
                return
            parts.work.spawn(parts.controller.command(who, parsed, reply), name=f"plan.{verb}")
            return
        forms = [f.action for f in spec.forms if f.action]
        opening = self.modal.open(
            click.user, click.channel, click.trigger_id, plan_id=plan_id, action=forms[0] if forms else None
        )
        parts.work.spawn(opening, name="modal.open")


def plan_button(action_id: str, value: str) -> tuple[str, str, str]:
    """(verb, plan id, option) of a plan button: ``vro_action:<verb>[:<option>]`` whose value is
    the plan id, or ``{"plan_id": ..., "option": ...}`` (the watcher's halt notices)."""
    _, _, rest = action_id.partition(":")
    verb, _, option = rest.partition(":")
    plan_id = value
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            data = {}
        plan_id = str(data.get("plan_id", "")) if isinstance(data, dict) else ""
        if not option and isinstance(data, dict) and data.get("option") not in (None, "Undo"):
            option = str(data["option"])
    return verb, plan_id, option
