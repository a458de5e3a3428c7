"""Small pieces every builder uses: action ids, limits, text helpers, elements, pagination.

All builders return plain JSON-ready dicts; nothing here talks to Slack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from bot.slack.grammar import PLAN_TYPES, format_time, match_choice
from bot.slack.message import Block, Message
from bot.vro import plan_states
from bot.vro.operations import VERB_ACTIONS, label_of

__all__ = ["Block", "Message"]  # and everything defined below


# --- Slack's limits (slack-notes §3) -----------------------------------------------------------

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_SECTION_TEXT: Final = 3000
MAX_FIELD_TEXT: Final = 2000
MAX_FIELDS: Final = 10
MAX_HEADER_TEXT: Final = 150
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
MAX_ACTION_ID: Final = 255
MAX_BLOCK_ID: Final = 255
MAX_ACTIONS_ELEMENTS: Final = 25
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_MESSAGE_TEXT: Final = 40_000
MAX_OPTION_TEXT: Final = 75
MAX_OPTION_VALUE: Final = 150
MAX_OPTIONS: Final = 100
MAX_CONFIRM_TEXT: Final = 300
MAX_VIEW_TITLE: Final = 24
MAX_PRIVATE_METADATA: Final = 3000
# Slack truncates message text past 40,000 characters; a long message is split below that
MAX_MESSAGE_CHARS: Final = 38_000
# what our builders aim for: the fallback text stays short even though Slack allows 40k
FALLBACK_TEXT_LIMIT: Final = 3000


class ActionId(StrEnum):
    """Every ``action_id`` the bot's interactive elements use (Bolt listeners match on these)."""

    APPROVE = "vro_approve"  # value: the request id, nothing else
    DENY = "vro_deny"  # value: the request id, nothing else
    SEND = "vro_send"  # a held request (approved, never sent): value: the request id, nothing else
    PLAN_ACTION = "vro_action"  # prefix: "vro_action:<verb>", value: the plan id
    PAGE_PREV = "vro_page_prev"  # value: see page_value()
    PAGE_NEXT = "vro_page_next"
    MODAL_PLAN = "vro_modal_plan"
    MODAL_ACTION = "vro_modal_action"
    MODAL_PREVIOUS_PLAN = "vro_modal_previous_plan"
    MODAL_LOCATION = "vro_modal_location"
    MODAL_CONTINUE_OPTION = "vro_modal_continue_option"
    MODAL_RESTORE_POINT = "vro_modal_restore_point"
    MODAL_START_TIME = "vro_modal_start_time"
    MODAL_FLAGS = "vro_modal_flags"
    MODAL_CLONE_NAME = "vro_modal_clone_name"
    MODAL_REASON = "vro_modal_reason"
    HOME_REFRESH = "vro_home_refresh"


PLAN_ACTION_PATTERN: Final = r"^vro_action:[a-z-]+(:[A-Za-z]+)?$"
"""Regex for Bolt's ``app.action(re.compile(PLAN_ACTION_PATTERN))``: a plan-detail button
(``vro_action:<verb>``) or a halt notice's button (``vro_action:continue:<ContinueOption>``)."""

MODAL_CALLBACK_ID: Final = "vro_modal"


def plan_action_id(verb: str) -> str:
    """``vro_action:failover``: the action id of a plan-detail button for ``verb``."""
    return f"{ActionId.PLAN_ACTION}:{verb}"


CONTINUE_ACTION_PREFIX: Final = f"{ActionId.PLAN_ACTION}:continue:"
"""A halt notice's Continue buttons: ``vro_action:continue:<ContinueOption>``."""
UNDO_ACTION_ID: Final = f"{ActionId.PLAN_ACTION}:undo"
"""A halt notice's Undo button."""


def verb_of_action_id(action_id: str) -> str | None:
    """The verb of a ``vro_action:<verb>`` action id (None for any other id)."""
    prefix = f"{ActionId.PLAN_ACTION}:"
    if not action_id.startswith(prefix):
        return None
    return action_id[len(prefix) :] or None


# --- text ------------------------------------------------------------------------------------


def esc(text: object) -> str:
    """Escape text from VRO or users for mrkdwn (``&``, ``<``, ``>`` only, as Slack asks)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def described(line: str, description: str | None, *, limit: int = 200) -> str:
    """``line`` with ``description`` (escaped, clipped) indented beneath it, when there is one."""
    return f"{line}\n      {esc(clip(description, limit))}" if description else line


def when(moment: datetime | None, *, fallback: str = "never") -> str:
    """A time that Slack shows in the reader's own time zone, with a UTC fallback."""
    if moment is None:
        return fallback
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    stamp = int(aware.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{format_time(aware)}>"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 plan``, ``3 plans``, ``2 entries``."""
    if count == 1:
        return f"{count:,} {noun}"
    if plural_noun is None:
        plural_noun = noun[:-1] + "ies" if re.search(r"[^aeiou]y$", noun) else noun + "s"
    return f"{count:,} {plural_noun}"


# --- elements and blocks --------------------------------------------------------------------


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def section(text: str, *, fields: Sequence[str] = (), block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]
    if block_id:
        block["block_id"] = block_id[:MAX_BLOCK_ID]
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t, MAX_FIELD_TEXT) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def confirm(title: str, text: str, *, ok: str, cancel: str = "Cancel", danger: bool = True) -> dict[str, Any]:
    dialog: dict[str, Any] = {
        "title": plain(title, 100),
        "text": plain(text, MAX_CONFIRM_TEXT),
        "confirm": plain(ok, 30),
        "deny": plain(cancel, 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm_dialog: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, MAX_BUTTON_TEXT),
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm_dialog:
        element["confirm"] = confirm_dialog
    return element


def actions(elements: Sequence[dict[str, Any]], *, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:MAX_ACTIONS_ELEMENTS])}
    if block_id:
        block["block_id"] = block_id[:MAX_BLOCK_ID]
    return block


def option(text: str, value: str, *, description: str | None = None) -> dict[str, Any]:
    opt: dict[str, Any] = {"text": plain(text, MAX_OPTION_TEXT), "value": value[:MAX_OPTION_VALUE]}
    if description:
        opt["description"] = plain(description, MAX_OPTION_TEXT)
    return opt


def chunk_lines(lines: Iterable[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """``lines`` joined with newlines into chunks of at most ``limit`` characters, in order
    (a line longer than ``limit`` is clipped)."""
    chunks: list[str] = []
    current = ""
    for raw in lines:
        line = clip(raw, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def pack_sections(lines: Iterable[str], *, limit: int = MAX_SECTION_TEXT) -> list[Block]:
    """Section blocks holding ``lines`` in order, each under ``limit`` characters."""
    return [section(chunk) for chunk in chunk_lines(lines, limit)]


def split_blocks(
    blocks: Sequence[Block], *, max_blocks: int = MAX_MESSAGE_BLOCKS, max_chars: int = MAX_MESSAGE_CHARS
) -> list[list[Block]]:
    """``blocks`` cut into messages of at most ``max_blocks`` blocks and about ``max_chars``
    characters of JSON each, keeping their order."""
    parts: list[list[Block]] = []
    current: list[Block] = []
    size = 0
    for block in blocks:
        chars = len(json.dumps(block, ensure_ascii=False))
        if current and (len(current) >= max_blocks or size + chars > max_chars):
            parts.append(current)
            current, size = [], 0
        current.append(block)
        size += chars
    if current:
        parts.append(current)
    return parts


# --- results and progress -------------------------------------------------------------------

_RESULT_EMOJI: Final = {
    "success": ":white_check_mark:",
    "warning": ":warning:",
    "error": ":x:",
    "failed": ":x:",
}
_STATE_EMOJI: Final = {
    "running": ":arrows_counterclockwise:",
    "notstarted": ":white_circle:",
    "skipped": ":fast_forward:",
    "halted": ":octagonal_sign:",
    "failed": ":x:",
}


def result_emoji(result: str | None) -> str:
    """Emoji for a VRO result (Success / Warning / Error); a neutral dot otherwise."""
    return _RESULT_EMOJI.get((result or "").lower(), ":white_circle:")


def item_emoji(execution_state: str | None, result: str | None) -> str:
    """Emoji for a runtime item: its result once completed, else its execution state."""
    state = (execution_state or "").replace(" ", "").lower()
    if state == "completed" or (not state and result):
        return result_emoji(result) if result and result.lower() != "undefined" else ":white_check_mark:"
    return _STATE_EMOJI.get(state, ":white_circle:")


def bar(percent: float, *, width: int = 10) -> str:
    """``▓▓▓▓░░░░░░``: ``percent`` (clamped to 0-100) as ``width`` cells."""
    bounded = max(0.0, min(100.0, float(percent)))
    filled = round(bounded / 100 * width)
    return "▓" * filled + "░" * (width - filled)


def progress_bar(percent: float, *, width: int = 10) -> str:
    """``▓▓▓▓░░░░░░ 40%``."""
    return f"{bar(percent, width=width)} {max(0.0, min(100.0, float(percent))):.0f}%"


def duration(seconds: float) -> str:
    """``1h 02m``, ``12m 30s``, ``45s``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


# --- pagination -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    """A click on a Prev / Next button: run ``command`` again (as the clicker) and show ``page``."""

    command: str
    page: int


def page_value(command: str, page: int) -> str | None:
    """The button value for a page of ``command``'s answer; None when it would not fit a button."""
    value = json.dumps({"c": command, "p": page}, ensure_ascii=False, separators=(",", ":"))
    return value if len(value) <= MAX_BUTTON_VALUE else None


def parse_page_value(value: str) -> PageRequest | None:
    """Read a Prev / Next button's value back (None if it is not one of ours)."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    command, page = data.get("c"), data.get("p")
    if not isinstance(command, str) or not isinstance(page, int) or isinstance(page, bool) or page < 0:
        return None
    return PageRequest(command, page)


@dataclass(frozen=True)
class Paged:
    """One page of a long list."""

    start: int
    end: int
    total: int
    page: int
    pages: int


def page_of(total: int, page: int, size: int) -> Paged:
    pages = max(1, -(-total // size))
    page = max(0, min(page, pages - 1))
    start = page * size
    return Paged(start, min(total, start + size), total, page, pages)


def paging_blocks(paged: Paged, noun: str, *, command: str | None) -> list[Block]:
    """``Showing 21–40 of 1,000 plans`` and Prev / Next buttons when there is more than one page."""
    if paged.pages <= 1:
        return []
    shown = f"Showing {paged.start + 1:,}–{paged.end:,} of {plural(paged.total, noun)}."
    buttons: list[dict[str, Any]] = []
    if command is not None:
        for label, action_id, target in (
            ("◀ Previous", ActionId.PAGE_PREV, paged.page - 1),
            ("Next ▶", ActionId.PAGE_NEXT, paged.page + 1),
        ):
            value = page_value(command, target)
            if 0 <= target < paged.pages and value is not None:
                buttons.append(button(label, action_id, value))
    blocks = [context(shown if buttons else f"{shown} Narrow the search to see the rest.")]
    if buttons:
        blocks.append(actions(buttons))
    return blocks


def paged_list(
    title: str,
    lines: Iterable[str],
    paged: Paged,
    noun: str,
    *,
    command: str | None,
    heading: str | None = None,
    text: str | None = None,
) -> Message:
    """A list message: its heading (bold ``title`` unless given), the page's ``lines`` packed into
    sections, then where the page is in the list and Prev / Next buttons."""
    blocks: list[Block] = [
        section(heading if heading is not None else f"*{esc(title)}*"),
        *pack_sections(lines),
        *paging_blocks(paged, noun, command=command),
    ]
    return Message(clip(text if text is not None else title, FALLBACK_TEXT_LIMIT), blocks)


def cut_notice(shown: int, total: int, noun: str, hint: str = "") -> Block:
    """``Showing 40 of 1,000 VMs.`` for lists that are cut rather than paged."""
    return context(f"Showing {shown:,} of {plural(total, noun)}.{(' ' + hint) if hint else ''}")


# --- verbs and plans in words -------------------------------------------------------------------

_VERB_TITLES: Final = {"vms": "VMs", "params": "Parameters", "schedule": "Schedule"}


def verb_title(verb: str) -> str:
    """``Failback to production`` for ``failback``: an action verb reads as its action's one label."""
    titled = _VERB_TITLES.get(verb)
    if titled:
        return titled
    actions = VERB_ACTIONS.get(verb, ())
    if len(actions) == 1:
        return label_of(actions[0])
    return verb.replace("-", " ").capitalize()


REQUEST_PHRASES: Final = {
    # "<requester> asks to ..." for each action verb; {v} marks the verb part, {plan} the plan.
    "enable": "{v:enable} plan {plan}",
    "disable": "{v:disable} plan {plan}",
    "halt": "{v:halt} plan {plan}",
    "failover": "{v:fail over} plan {plan}",
    "permanent-failover": "{v:make the failover permanent} for plan {plan}",
    "failback": "{v:fail back} plan {plan} to production",
    "prepare-failback": "{v:prepare} plan {plan} {v:for failback}",
    "switchover": "{v:switch over} plan {plan} to production",
    "commit-failback": "{v:commit the failback} of plan {plan}",
    "undo": "{v:undo} the last run of plan {plan}",
    "reset": "{v:reset} plan {plan}",
    "clear-log": "{v:clear the change log} of plan {plan}",
    "restore": "{v:run} restore plan {plan}",
    "continue": "{v:continue} plan {plan}",
    "check": "run a {v:readiness check} of plan {plan}",
    "scan": "run a {v:malware scan} of restore plan {plan}",
    "schedule": "{v:schedule} plan {plan}",
    "unschedule": "{v:remove the schedule} of plan {plan}",
    "clone": "{v:clone} plan {plan}",
}
_PHRASE_PART = re.compile(r"\{v:([^}]+)\}")


def request_phrase(verb: str, plan: str, *, mrkdwn: bool = True) -> str:
    """What a request asks, to follow "asks to" / "This will": ``fail over plan SAP Tier1``,
    ``run a readiness check of plan SAP Tier1``. With ``mrkdwn`` the verb and the plan are bold
    and the plan name is escaped."""
    template = REQUEST_PHRASES.get(verb) or f"{{v:{verb.replace('-', ' ')}}} plan {{plan}}"
    if mrkdwn:
        return _PHRASE_PART.sub(r"*\1*", template).replace("{plan}", f"*{esc(plan)}*")
    return _PHRASE_PART.sub(r"\1", template).replace("{plan}", plan)


def action_label(action: str) -> str:
    """How a ``PlanAction`` name reads on a button, a card, a picker or in a thread."""
    return label_of(action)


def plan_type_label(plan_type: str | None) -> str:
    if not plan_type:
        return "plan"
    choice = match_choice(plan_type, PLAN_TYPES)
    return choice.label if choice else f"{plan_type} plan"


def plan_state_label(state: str | None, state_name: str | None = None) -> str:
    """VRO's ``stateName`` when given, else the display name of the machine state."""
    if state_name:
        return state_name
    return plan_states.display_name(state) if state else "unknown state"


def plan_emoji(state: str | None) -> str:
    """Running, halted, or at rest."""
    if state and plan_states.is_running(state):
        return ":arrows_counterclockwise:"
    if state == plan_states.HALTED:
        return ":octagonal_sign:"
    return ":large_blue_circle:"


def last_run_note(result: str | None) -> str:
    """`` · last run :x: Error`` when the last run did not simply succeed; empty otherwise."""
    if not result or result.lower() in {"success", "undefined"}:
        return ""
    return f" · last run {result_emoji(result)} {esc(result)}"
