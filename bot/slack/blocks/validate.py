"""Offline checks of what we send to Slack: slack_sdk's own validation plus the limits it skips.

``slack_sdk.models`` checks the per-field limits of each block it knows (section text, fields,
view title...) but not nested buttons, the number of blocks in a message, the message text,
duplicate block ids, or keys it silently drops. :func:`validate_blocks` adds those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block as SdkBlock
from slack_sdk.models.blocks import BlockElement
from slack_sdk.models.views import View

from bot.slack.blocks.kit import (
    MAX_ACTION_ID,
    MAX_ACTIONS_ELEMENTS,
    MAX_BLOCK_ID,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    MAX_PRIVATE_METADATA,
    MAX_SECTION_TEXT,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_TITLE,
    Message,
)

Surface = Literal["message", "modal", "home"]


class BlockValidationError(ValueError):
    """Blocks Slack would reject (or silently mangle); ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def block_problems(blocks: Sequence[Mapping[str, Any]], *, surface: Surface = "message") -> list[str]:
    """Everything wrong with ``blocks`` for ``surface`` (empty when they are fine)."""
    problems: list[str] = []
    limit = MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks; a {surface} allows {limit}")
    block_ids: set[str] = set()
    action_ids: dict[str, set[str]] = {}
    for index, block in enumerate(blocks):
        where = f"block {index} ({block.get('type')})"
        problems += [f"{where}: {p}" for p in _sdk_problems(block)]
        problems += [f"{where}: {p}" for p in _own_problems(block, surface)]
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in block_ids:
                problems.append(f"{where}: block_id {block_id!r} is used twice")
            block_ids.add(block_id)
            ids = action_ids.setdefault(block_id, set())
        else:
            ids = set()
        for element in _elements(block):
            action_id = element.get("action_id")
            if isinstance(action_id, str):
                if action_id in ids:
                    problems.append(f"{where}: action_id {action_id!r} repeats inside the block")
                ids.add(action_id)
    return problems


def validate_blocks(blocks: Sequence[Mapping[str, Any]], *, surface: Surface = "message") -> None:
    """Raise :class:`BlockValidationError` unless Slack would take ``blocks`` as they are."""
    problems = block_problems(blocks, surface=surface)
    if problems:
        raise BlockValidationError(problems)


def validate_message(message: Message) -> None:
    """A message's blocks, plus its text: present and under 40,000 characters."""
    problems = block_problems(message.blocks)
    if not message.text.strip():
        problems.append("the message text (the notification and fallback) is empty")
    if len(message.text) > MAX_MESSAGE_TEXT:
        problems.append(
            f"the message text is {len(message.text):,} characters; Slack truncates above {MAX_MESSAGE_TEXT:,}"
        )
    if not message.blocks:
        problems.append("the message has no blocks")
    if problems:
        raise BlockValidationError(problems)


def validate_view(view: Mapping[str, Any]) -> None:
    """A modal or Home view: slack_sdk's View checks plus our block checks."""
    problems: list[str] = []
    try:
        View(**dict(view)).validate_json()
    except (SlackObjectFormationError, TypeError) as exc:
        problems.append(f"view: {exc}")
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        problems.append(f"view type {kind!r} is neither modal nor home")
    if kind == "modal":
        for key in ("title", "submit", "close"):
            text = view.get(key, {}).get("text", "") if isinstance(view.get(key), Mapping) else ""
            if len(text) > MAX_VIEW_TITLE:
                problems.append(f"view {key} is {len(text)} characters; the limit is {MAX_VIEW_TITLE}")
    metadata = view.get("private_metadata", "")
    if isinstance(metadata, str) and len(metadata) > MAX_PRIVATE_METADATA:
        problems.append(
            f"private_metadata is {len(metadata)} characters; the limit is {MAX_PRIVATE_METADATA}"
        )
    problems += block_problems(view.get("blocks", []), surface="home" if kind == "home" else "modal")
    if problems:
        raise BlockValidationError(problems)


# --- internals --------------------------------------------------------------------------------


def _sdk_problems(block: Mapping[str, Any]) -> list[str]:
    parsed = SdkBlock.parse(dict(block))
    if parsed is None:
        return [f"slack_sdk does not know block type {block.get('type')!r}"]
    problems: list[str] = []
    try:
        parsed.validate_json()
    except SlackObjectFormationError as exc:
        problems.append(str(exc))
    for element in _elements(block):
        parsed_element = BlockElement.parse(dict(element))
        if parsed_element is None:
            problems.append(f"slack_sdk does not know element type {element.get('type')!r}")
            continue
        try:
            parsed_element.validate_json()
        except SlackObjectFormationError as exc:
            problems.append(f"{element.get('type')}: {exc}")
    try:
        as_parsed = parsed.to_dict()
    except SlackObjectFormationError:
        return problems  # already reported by the element checks
    dropped = _dropped_keys(block, as_parsed)
    if dropped:
        problems.append("keys slack_sdk does not know (typos?): " + ", ".join(sorted(dropped)))
    return problems


def _elements(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Interactive elements of a block (actions elements, a section accessory, an input element)."""
    found: list[Mapping[str, Any]] = []
    if block.get("type") == "actions":
        found += [e for e in block.get("elements", []) if isinstance(e, Mapping)]
    for key in ("accessory", "element"):
        if isinstance(block.get(key), Mapping):
            found.append(block[key])
    return found


def _dropped_keys(original: Any, parsed: Any, path: str = "") -> set[str]:
    missing: set[str] = set()
    if isinstance(original, Mapping) and isinstance(parsed, Mapping):
        for key, value in original.items():
            if key not in parsed:
                missing.add(f"{path}{key}")
            else:
                missing |= _dropped_keys(value, parsed[key], f"{path}{key}.")
    elif isinstance(original, list) and isinstance(parsed, list):
        for index, (a, b) in enumerate(zip(original, parsed, strict=False)):
            missing |= _dropped_keys(a, b, f"{path}{index}.")
    return missing


def _texts(obj: Any) -> Iterable[tuple[str, str]]:
    """Every (key path, text) of text objects inside ``obj``."""
    if isinstance(obj, Mapping):
        if obj.get("type") in {"plain_text", "mrkdwn"} and isinstance(obj.get("text"), str):
            yield "text", obj["text"]
        for value in obj.values():
            yield from _texts(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from _texts(item)


def _own_problems(block: Mapping[str, Any], surface: Surface) -> list[str]:
    problems: list[str] = []
    kind = block.get("type")
    block_id = block.get("block_id")
    if isinstance(block_id, str) and len(block_id) > MAX_BLOCK_ID:
        problems.append(f"block_id is {len(block_id)} characters; the limit is {MAX_BLOCK_ID}")
    if kind == "section":
        text = block.get("text", {}).get("text", "") if isinstance(block.get("text"), Mapping) else ""
        if len(text) > MAX_SECTION_TEXT:
            problems.append(f"section text is {len(text)} characters; the limit is {MAX_SECTION_TEXT}")
        if not text.strip() and not block.get("fields"):
            problems.append("section without text or fields")
        fields = block.get("fields", [])
        if len(fields) > MAX_FIELDS:
            problems.append(f"{len(fields)} fields; the limit is {MAX_FIELDS}")
        problems += [
            f"a field is {len(f['text'])} characters; the limit is {MAX_FIELD_TEXT}"
            for f in fields
            if len(f.get("text", "")) > MAX_FIELD_TEXT
        ]
    if kind == "header":
        text = block.get("text", {}).get("text", "")
        if len(text) > MAX_HEADER_TEXT:
            problems.append(f"header is {len(text)} characters; the limit is {MAX_HEADER_TEXT}")
    if kind == "actions" and len(block.get("elements", [])) > MAX_ACTIONS_ELEMENTS:
        problems.append(f"{len(block['elements'])} elements; an actions block allows {MAX_ACTIONS_ELEMENTS}")
    if kind == "context" and len(block.get("elements", [])) > MAX_CONTEXT_ELEMENTS:
        problems.append(f"{len(block['elements'])} elements; a context block allows {MAX_CONTEXT_ELEMENTS}")
    if kind == "input" and surface == "message":
        problems.append("input blocks belong in modals")
    for _, text in _texts(block):
        if not text.strip():
            problems.append("an empty text object (Slack rejects it)")
    for element in _elements(block):
        problems += _element_problems(element)
    return problems


def _element_problems(element: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    action_id = element.get("action_id", "")
    if isinstance(action_id, str) and len(action_id) > MAX_ACTION_ID:
        problems.append(f"action_id is {len(action_id)} characters; the limit is {MAX_ACTION_ID}")
    if element.get("type") == "button":
        value = element.get("value", "")
        if len(value) > MAX_BUTTON_VALUE:
            problems.append(f"button value is {len(value)} characters; the limit is {MAX_BUTTON_VALUE}")
        if len(element.get("text", {}).get("text", "")) > MAX_BUTTON_TEXT:
            problems.append(f"button text is over {MAX_BUTTON_TEXT} characters")
    options = element.get("options", [])
    if len(options) > MAX_OPTIONS:
        problems.append(f"{len(options)} options; the limit is {MAX_OPTIONS}")
    for opt in [*options, *([element["initial_option"]] if "initial_option" in element else [])]:
        problems += option_problems(opt)
    return problems


def option_problems(opt: Mapping[str, Any]) -> list[str]:
    """What is wrong with one option object (text ≤ 75, value ≤ 150)."""
    problems: list[str] = []
    text = opt.get("text", {}).get("text", "")
    if not text.strip() or len(text) > MAX_OPTION_TEXT:
        problems.append(f"option text {text[:20]!r}… must be 1–{MAX_OPTION_TEXT} characters")
    value = opt.get("value", "")
    if not value or len(value) > MAX_OPTION_VALUE:
        problems.append(f"option value must be 1–{MAX_OPTION_VALUE} characters")
    return problems
