"""The ``/vro`` form (a modal): pick a plan, an action its state allows, options and a reason.

Flow (the listener does the I/O):

1. ``/vro`` with no text → ``views.open`` with :func:`command_modal` (no plan yet).
2. The plan picker is an ``external_select`` (``vro_modal_plan``); Slack asks for options with a
   ``block_suggestion`` → answer with :func:`plan_suggestions`. The same serves the "after which
   plan" picker (``vro_modal_previous_plan``).
3. Choosing a plan or an action sends ``block_actions`` (both pickers dispatch) → read the choice
   with :func:`~bot.slack.blocks.modal_submission.read_modal_state`, fetch the plan, ``views.update`` with :func:`command_modal` again
   (only the actions allowed in the plan's state are offered, then that action's options).
4. Submit → :func:`~bot.slack.blocks.modal_submission.parse_modal_submission` gives the same :class:`ParsedCommand` the text grammar
   gives for the equivalent command, or :class:`ModalErrors` to ``ack`` with.

Blocks that depend on the chosen plan or action carry it in their block id (``action.<plan id>``,
``flags.<action>``), so a stale answer from another plan or action is never read back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from bot.slack.blocks.kit import (
    MAX_OPTIONS,
    MODAL_CALLBACK_ID,
    ActionId,
    Block,
    action_label,
    clip,
    context,
    esc,
    option,
    plain,
    plan_state_label,
    plan_type_label,
    section,
)
from bot.slack.grammar import (
    MAX_REASON_LENGTH,
    PLAN_ACTIONS,
    VERB_FOR_ACTION,
    ArgSpec,
    Form,
    OptionSpec,
    RefKind,
    ValueType,
)
from bot.slack.resolve import Named
from bot.vro import plan_states
from bot.vro.models import Plan

MODAL_TITLE: Final = "VRO plan action"
MODAL_SUBMIT: Final = "Request"
TIME_HINT: Final = (
    "UTC unless you add an offset: 2026-11-27 14:00, 14:00, tomorrow 09:30, 2026-11-27T14:00+02:00"
)


class ModalBlock(StrEnum):
    """Block ids of the form's inputs (some get ``.<plan id>`` or ``.<action>`` appended)."""

    PLAN = "plan"
    ACTION = "action"
    START_TIME = "start_time"
    PREVIOUS_PLAN = "previous_plan"
    CONTINUE_OPTION = "continue_option"
    CLONE_NAME = "clone_name"
    RESTORE_POINT = "restore_point"
    LOCATION = "location"
    FLAGS = "flags"
    REASON = "reason"


@dataclass(frozen=True)
class ModalPlan:
    """The chosen plan, with the actions its state allows."""

    id: str
    name: str
    state: str | None = None
    state_name: str | None = None
    plan_type: str | None = None
    mode: str | None = None
    allowed: frozenset[str] = frozenset()

    @classmethod
    def from_plan(cls, plan: Plan, *, allowed: frozenset[str] | None = None) -> ModalPlan:
        """``allowed`` defaults to ``bot.vro.plan_states.allowed_actions`` for the plan."""
        if allowed is None:
            allowed = plan_states.allowed_actions(plan.planType or "", plan.state or "", plan.planMode or "")
        return cls(plan.id, plan.name, plan.state, plan.stateName, plan.planType, plan.planMode, allowed)


@dataclass(frozen=True)
class ModalState:
    """What the form currently holds: where it was opened and what is chosen."""

    channel_id: str | None = None
    plan_id: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class ModalErrors:
    """Problems to show next to the inputs; ``response()`` is what to ``ack`` with."""

    errors: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> dict[str, Any]:
        return {"response_action": "errors", "errors": dict(self.errors)}


# --- building ---------------------------------------------------------------------------------


def form_of(action: str) -> Form:
    """The form (arguments, keyword) of ``action`` in the grammar's verb table."""
    spec = VERB_FOR_ACTION[action]
    return next(form for form in spec.forms if form.action == action)


def _input(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _text_input(
    action_id: str, placeholder: str, *, multiline: bool = False, max_length: int | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
        "multiline": multiline,
    }
    if max_length:
        element["max_length"] = max_length
    return element


def plan_option_text(name: str, state: str) -> str:
    """``SAP Tier1 — Ready``, cut so the state survives a long name (select options: 75 characters)."""
    tail = f" — {state}"
    return clip(name, max(20, 75 - len(tail))) + clip(tail, 75 - 20)


def _plan_option(plan: ModalPlan) -> dict[str, Any]:
    return option(plan_option_text(plan.name, plan_state_label(plan.state, plan.state_name)), plan.id)


def _arg_input(arg: ArgSpec, action: str) -> Block | None:
    suffix = f".{action}"
    if arg.type is ValueType.DATETIME:
        return _input(
            ModalBlock.START_TIME + suffix,
            "Start at",
            _text_input(ActionId.MODAL_START_TIME, "2026-11-27 14:00"),
            optional=not arg.required,
            hint=TIME_HINT,
        )
    if arg.ref is RefKind.PLAN:
        element = {
            "type": "external_select",
            "action_id": ActionId.MODAL_PREVIOUS_PLAN,
            "placeholder": plain("Type part of a plan name", 150),
            "min_query_length": 0,
        }
        return _input(ModalBlock.PREVIOUS_PLAN + suffix, "Run after plan", element, optional=not arg.required)
    if arg.type is ValueType.CHOICE:
        element = {
            "type": "static_select",
            "action_id": ActionId.MODAL_CONTINUE_OPTION,
            "placeholder": plain("How to go on", 150),
            "options": [option(c.label.capitalize(), c.value) for c in arg.choices],
        }
        return _input(ModalBlock.CONTINUE_OPTION + suffix, "Continue by", element, optional=not arg.required)
    if arg.param == "name":
        return _input(
            ModalBlock.CLONE_NAME + suffix,
            "Name of the copy",
            _text_input(ActionId.MODAL_CLONE_NAME, "leave empty to let VRO name it", max_length=200),
            optional=True,
        )
    return None


def _option_inputs(options: Sequence[OptionSpec], action: str, locations: Sequence[Named]) -> list[Block]:
    suffix = f".{action}"
    blocks: list[Block] = []
    for spec in options:
        if spec.type is ValueType.DATETIME:
            blocks.append(
                _input(
                    ModalBlock.RESTORE_POINT + suffix,
                    "Restore point",
                    _text_input(ActionId.MODAL_RESTORE_POINT, "latest"),
                    optional=True,
                    hint="The latest restore point at or before this time. " + TIME_HINT,
                )
            )
        elif spec.ref is RefKind.LOCATION:
            if locations and len(locations) <= MAX_OPTIONS:
                element: dict[str, Any] = {
                    "type": "static_select",
                    "action_id": ActionId.MODAL_LOCATION,
                    "placeholder": plain("The plan's own location", 150),
                    "options": [option(loc.name, loc.id) for loc in locations],
                }
            else:
                element = _text_input(ActionId.MODAL_LOCATION, "The plan's own location (or a name or id)")
            blocks.append(_input(ModalBlock.LOCATION + suffix, "Recovery location", element, optional=True))
    flags = [spec for spec in options if spec.type is ValueType.FLAG]
    if flags:
        element = {
            "type": "checkboxes",
            "action_id": ActionId.MODAL_FLAGS,
            "options": [option(clip(spec.help.capitalize(), 75), spec.name) for spec in flags],
        }
        blocks.append(_input(ModalBlock.FLAGS + suffix, "Options", element, optional=True))
    return blocks


def command_modal(
    *,
    plan: ModalPlan | None = None,
    action: str | None = None,
    locations: Sequence[Named] = (),
    channel_id: str | None = None,
    reason_required: bool = False,
) -> dict[str, Any]:
    """The form as a ``modal`` view, for ``views.open`` / ``views.update``.

    ``action`` (a ``PlanAction`` name) is ignored unless the plan's state allows it.
    ``locations`` fill the recovery location picker (up to 100; beyond that a text box).
    """
    if action is not None and (plan is None or action not in plan.allowed):
        action = None
    plan_element: dict[str, Any] = {
        "type": "external_select",
        "action_id": ActionId.MODAL_PLAN,
        "placeholder": plain("Type part of a plan name", 150),
        "min_query_length": 0,
    }
    if plan is not None:
        plan_element["initial_option"] = _plan_option(plan)
    blocks: list[Block] = [
        {**_input(ModalBlock.PLAN, "Plan", plan_element, optional=False), "dispatch_action": True}
    ]
    if plan is not None:
        state = plan_state_label(plan.state, plan.state_name)
        mode = f" · {plan_states.mode_display_name(plan.mode)}" if plan.mode else ""
        blocks.append(
            context(
                f"*{esc(plan.name)}* is *{esc(state)}* · {esc(plan_type_label(plan.plan_type))}{esc(mode)}"
            )
        )
        offered = [a for a in PLAN_ACTIONS if a in plan.allowed]
        if not offered:
            blocks.append(section(f"Nothing can be started while *{esc(plan.name)}* is {esc(state)}."))
        else:
            action_element: dict[str, Any] = {
                "type": "static_select",
                "action_id": ActionId.MODAL_ACTION,
                "placeholder": plain("What to do", 150),
                "options": [option(action_label(a), a) for a in offered],
            }
            if action is not None:
                action_element["initial_option"] = option(action_label(action), action)
            blocks.append(
                {
                    **_input(f"{ModalBlock.ACTION}.{plan.id}", "Action", action_element, optional=False),
                    "dispatch_action": True,
                }
            )
    if plan is not None and action is not None:
        form = form_of(action)
        spec = VERB_FOR_ACTION[action]
        if spec.destructive:
            blocks.append(
                context(f":rotating_light: {esc(action_label(action))} changes production or DR workloads.")
            )
        blocks += [b for arg in form.args[1:] if (b := _arg_input(arg, action)) is not None]
        blocks += _option_inputs(spec.options, action, locations)
        blocks.append(
            _input(
                ModalBlock.REASON,
                "Reason",
                _text_input(
                    ActionId.MODAL_REASON, "INC-42: site A lost", multiline=True, max_length=MAX_REASON_LENGTH
                ),
                optional=not reason_required,
                hint="Shown on the approval card and kept in the audit log.",
            )
        )
    metadata = json.dumps(
        {"channel_id": channel_id, "plan_id": plan.id if plan else None, "action": action},
        separators=(",", ":"),
    )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK_ID,
        "title": plain(MODAL_TITLE, 24),
        "submit": plain(MODAL_SUBMIT, 24),
        "close": plain("Cancel", 24),
        "private_metadata": metadata,
        "blocks": blocks,
    }


def access_modal(text: str) -> dict[str, Any]:
    """The form's place for someone who may not use it here: why, and whom to ask. No data.

    It keeps the form's ``callback_id`` but has no submit button, so nothing can be sent from it.
    """
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK_ID,
        "title": plain(MODAL_TITLE, 24),
        "close": plain("Close", 24),
        "blocks": [section(f":lock: {esc(text)}")],
    }


# --- external select options ----------------------------------------------------------------------


def plan_suggestions(plans: Sequence[Plan], query: str, *, limit: int = MAX_OPTIONS) -> dict[str, Any]:
    """The ``block_suggestion`` answer: plans whose name contains ``query`` (best matches first)."""
    wanted = " ".join(query.split()).casefold()
    ranked: list[tuple[int, str, Plan]] = []
    for plan in plans:
        name = " ".join(plan.name.split()).casefold()
        if not wanted:
            rank = 2
        elif name == wanted or plan.id.casefold() == wanted:
            rank = 0
        elif name.startswith(wanted):
            rank = 1
        elif wanted in name:
            rank = 2
        else:
            continue
        ranked.append((rank, name, plan))
    ranked.sort(key=lambda item: (item[0], item[1]))
    options = [
        option(plan_option_text(plan.name, plan_state_label(plan.state, plan.stateName)), plan.id)
        for _, _, plan in ranked[: max(0, min(limit, MAX_OPTIONS))]
    ]
    return {"options": options}
