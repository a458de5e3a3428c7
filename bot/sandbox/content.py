"""What the sandbox checks in message and view content, and how it reads ``blocks`` and
``metadata`` parameters, as Slack does."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.sandbox.models import (
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_PRIVATE_METADATA,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_TITLE,
    JsonDict,
    SlackApiFailure,
)


def ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def ts_to_datetime(ts: str) -> datetime:
    """The moment a Slack ts names (UTC)."""
    seconds, micros = ts_key(ts)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def check_blocks(blocks: list[JsonDict], limit: int) -> None:
    if len(blocks) > limit:
        raise SlackApiFailure("invalid_blocks", detail=f"{len(blocks)} blocks; at most {limit}")
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackApiFailure("invalid_blocks", detail="every block needs a type")


def check_message_content(text: str | None, blocks: list[JsonDict] | None) -> None:
    if not text and not blocks:
        raise SlackApiFailure("no_text")
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise SlackApiFailure("msg_too_long")
    if blocks:
        check_blocks(blocks, MAX_MESSAGE_BLOCKS)


def check_view(view: JsonDict, allowed: tuple[str, ...]) -> str:
    view_type = view.get("type")
    if view_type not in allowed:
        raise SlackApiFailure("invalid_arguments", detail=f"view type must be {' or '.join(allowed)}")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        raise SlackApiFailure("invalid_arguments", detail="view.blocks is required")
    check_blocks(blocks, MAX_VIEW_BLOCKS)
    if view_type == "modal":
        title = view.get("title")
        if not isinstance(title, dict) or not isinstance(title.get("text"), str):
            raise SlackApiFailure("invalid_arguments", detail="a modal needs a plain_text title")
        for key in ("title", "submit", "close"):
            part = view.get(key)
            if isinstance(part, dict) and len(str(part.get("text", ""))) > MAX_VIEW_TITLE:
                raise SlackApiFailure("invalid_arguments", detail=f"view.{key} must be at most 24 characters")
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        raise SlackApiFailure("invalid_arguments", detail="private_metadata must be at most 3000 characters")
    return str(view_type)


def blocks_param(value: object) -> list[JsonDict] | None:
    """``blocks`` as a list (JSON bodies) or a JSON string (form bodies)."""
    if value is None:
        return None
    value = _decoded(value, "invalid_blocks_format")
    if not isinstance(value, list):
        raise SlackApiFailure("invalid_blocks_format")
    return [b if isinstance(b, dict) else {} for b in value]


def metadata_param(value: object) -> JsonDict | None:
    """``metadata`` must be ``{"event_type": str, "event_payload": object}``."""
    if value is None:
        return None
    value = _decoded(value, "invalid_metadata_format")
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise SlackApiFailure("invalid_metadata_format")
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}


def _decoded(value: object, error: str) -> object:
    """A parameter as sent: JSON bodies carry it decoded, form bodies as a JSON string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise SlackApiFailure(error) from exc


def with_block_ids(blocks: Sequence[JsonDict]) -> list[JsonDict]:
    """A deep copy of ``blocks`` where each block without a block_id gets one, as Slack does."""
    copied = copy.deepcopy(list(blocks))
    for index, block in enumerate(copied):
        if not block.get("block_id"):
            digest = hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()[:5]
            block["block_id"] = f"{digest}{index}"
    return copied


def view_with_block_ids(view: JsonDict) -> JsonDict:
    copied = copy.deepcopy(view)
    copied["blocks"] = with_block_ids(view.get("blocks") or [])
    return copied


def find_element(
    blocks: Sequence[JsonDict], action_id: str, value: str | None = None
) -> tuple[str, JsonDict] | None:
    """The first interactive element with ``action_id`` (and ``value``, if given) and its block_id."""
    for block in blocks:
        block_id = str(block.get("block_id") or "")
        candidates: list[object] = []
        if block.get("type") == "actions":
            candidates.extend(block.get("elements") or [])
        accessory = block.get("accessory")
        if accessory is not None:
            candidates.append(accessory)
        if block.get("type") == "input":
            candidates.append(block.get("element"))
        for element in candidates:
            if (
                isinstance(element, dict)
                and element.get("action_id") == action_id
                and (value is None or element.get("value") == value)
            ):
                return block_id, element
    return None
