"""Reading the ``/vro`` form back: what it currently holds (:func:`read_modal_state`) and, on
submit, the command the text grammar would give for it (:func:`parse_modal_submission`) or the
problems to show next to its inputs. The form itself is built in :mod:`bot.slack.blocks.modal`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.slack.blocks.kit import ActionId
from bot.slack.blocks.modal import ModalBlock, ModalErrors, ModalState, form_of
from bot.slack.grammar import (
    MAX_REASON_LENGTH,
    PLAN_ACTIONS,
    VERB_FOR_ACTION,
    ParsedCommand,
    ParseError,
    RefKind,
    TimeDirection,
    TimeParseError,
    ValueType,
    parse,
    parse_time,
)


def _values(view: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    return {k: v for k, v in values.items() if isinstance(v, dict)} if isinstance(values, Mapping) else {}


def _element(values: Mapping[str, Mapping[str, Any]], block_id: str, action_id: str) -> Mapping[str, Any]:
    block = values.get(block_id, {})
    element = block.get(action_id, {})
    return element if isinstance(element, Mapping) else {}


def _selected(values: Mapping[str, Mapping[str, Any]], block_id: str, action_id: str) -> str | None:
    chosen = _element(values, block_id, action_id).get("selected_option")
    value = chosen.get("value") if isinstance(chosen, Mapping) else None
    return value if isinstance(value, str) and value else None


def _typed(values: Mapping[str, Mapping[str, Any]], block_id: str, action_id: str) -> str | None:
    element = _element(values, block_id, action_id)
    value = element.get("value")
    if value is None and isinstance(element.get("selected_option"), Mapping):
        value = element["selected_option"].get("value")
    return (value.strip() or None) if isinstance(value, str) else None


def _typed_time(
    values: Mapping[str, Mapping[str, Any]],
    block_id: str,
    action_id: str,
    direction: TimeDirection | None,
    now: datetime,
    errors: dict[str, str],
) -> str | None:
    """A typed time as typed; one the grammar cannot read is put in ``errors`` under its block."""
    value = _typed(values, block_id, action_id)
    if value is not None:
        try:
            parse_time(value, now=now, direction=direction)
        except TimeParseError as exc:
            errors[block_id] = str(exc)
    return value


def _checked(values: Mapping[str, Mapping[str, Any]], block_id: str, action_id: str) -> list[str]:
    chosen = _element(values, block_id, action_id).get("selected_options")
    if not isinstance(chosen, list):
        return []
    return [o["value"] for o in chosen if isinstance(o, Mapping) and isinstance(o.get("value"), str)]


def read_modal_state(view: Mapping[str, Any]) -> ModalState:
    """The channel the form was opened in and the plan and action chosen so far."""
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    values = _values(view)
    plan_id = _selected(values, ModalBlock.PLAN, ActionId.MODAL_PLAN)
    action = _selected(values, f"{ModalBlock.ACTION}.{plan_id}", ActionId.MODAL_ACTION) if plan_id else None
    channel = metadata.get("channel_id")
    return ModalState(
        channel_id=channel if isinstance(channel, str) else None,
        plan_id=plan_id,
        action=action if action in PLAN_ACTIONS else None,
    )


def _quote(text: str) -> str:
    escaped = "".join("\\" + ch if ch in "\\\"“”„‟'‘’‚‛" else ch for ch in text)
    return f'"{escaped}"'


def parse_modal_submission(view: Mapping[str, Any], *, now: datetime) -> ParsedCommand | ModalErrors:
    """The submitted form as the command the text grammar would give, or errors by block id."""
    values = _values(view)
    state = read_modal_state(view)
    if state.plan_id is None:
        return ModalErrors({ModalBlock.PLAN: "Pick a plan."})
    if state.action is None:
        return ModalErrors({f"{ModalBlock.ACTION}.{state.plan_id}": "Pick what to do with the plan."})
    action = state.action
    suffix = f".{action}"
    spec = VERB_FOR_ACTION[action]
    form = form_of(action)
    errors: dict[str, str] = {}
    words = [spec.verb, _quote(state.plan_id)]
    for index, arg in enumerate(form.args[1:], start=1):
        if index == 1 and form.keyword:
            words.append(form.keyword)
        value: str | None
        if arg.type is ValueType.DATETIME:
            block = ModalBlock.START_TIME + suffix
            value = _typed_time(values, block, ActionId.MODAL_START_TIME, arg.direction, now, errors)
        elif arg.ref is RefKind.PLAN:
            block = ModalBlock.PREVIOUS_PLAN + suffix
            value = _selected(values, block, ActionId.MODAL_PREVIOUS_PLAN)
        elif arg.type is ValueType.CHOICE:
            block = ModalBlock.CONTINUE_OPTION + suffix
            value = _selected(values, block, ActionId.MODAL_CONTINUE_OPTION)
        else:
            block = ModalBlock.CLONE_NAME + suffix
            value = _typed(values, block, ActionId.MODAL_CLONE_NAME)
        if value is None:
            if arg.required:
                errors[block] = "This is needed."
            continue
        words.append(_quote(value))
    for option_spec in spec.options:
        if option_spec.type is ValueType.DATETIME:
            block = ModalBlock.RESTORE_POINT + suffix
            value = _typed_time(
                values, block, ActionId.MODAL_RESTORE_POINT, option_spec.direction, now, errors
            )
            if value is not None:
                words += [option_spec.flag, _quote(value)]
        elif option_spec.ref is RefKind.LOCATION:
            value = _typed(values, ModalBlock.LOCATION + suffix, ActionId.MODAL_LOCATION)
            if value is not None:
                words += [option_spec.flag, _quote(value)]
    flags = {spec_.name for spec_ in spec.options if spec_.type is ValueType.FLAG}
    words += [
        f"--{name}"
        for name in _checked(values, ModalBlock.FLAGS + suffix, ActionId.MODAL_FLAGS)
        if name in flags
    ]
    reason = _typed(values, ModalBlock.REASON, ActionId.MODAL_REASON)
    if reason is not None:
        if len(reason) > MAX_REASON_LENGTH:
            errors[ModalBlock.REASON] = f"Keep the reason under {MAX_REASON_LENGTH} characters."
        words += ["--reason", _quote(reason)]
    if errors:
        return ModalErrors(errors)
    result = parse(" ".join(words), now=now)
    if isinstance(result, ParseError):
        return ModalErrors({f"{ModalBlock.ACTION}.{state.plan_id}": result.message})
    return result
