"""Short replies: errors, notices and help."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bot.slack.blocks.kit import FALLBACK_TEXT_LIMIT, Message, clip, context, esc, section
from bot.slack.grammar import ParseError
from bot.slack.help import help_sections

ERROR_EMOJI: Final = ":warning:"
INFO_EMOJI: Final = ":information_source:"


def error_message(problem: ParseError | str, *, usage: Sequence[str] = ()) -> Message:
    """A kind, specific error reply: what was wrong, then the usage line(s) to get it right.

    ``problem`` is a parse error (which carries its own usage) or a sentence such as a
    resolution or refusal message, with ``usage`` lines to show under it.
    """
    if isinstance(problem, ParseError):
        message, usage = problem.message, problem.usage
        more = f"`/vro help {problem.verb}` explains it." if problem.verb and problem.verb != "help" else ""
    else:
        message, more = problem, ""
    blocks = [section(f"{ERROR_EMOJI} {esc(message)}")]
    hints = [f"Usage: `{esc(line)}`" for line in usage]
    if more:
        hints.append(more)
    if hints:
        blocks.append(context("\n".join(hints)))
    text = "\n".join([message, *(f"Usage: {line}" for line in usage)])
    return Message(clip(text, FALLBACK_TEXT_LIMIT), blocks)


def notice_message(text: str, *, emoji: str = INFO_EMOJI, detail: str | None = None) -> Message:
    """A one-line answer (``Watching SAP Tier1 here.``), with optional small print."""
    blocks = [section(f"{emoji} {esc(text)}")]
    if detail:
        blocks.append(context(esc(detail)))
    return Message(clip(text, FALLBACK_TEXT_LIMIT), blocks)


def help_message(topic: str | None = None) -> Message:
    """``/vro help`` or ``/vro help <verb>``, generated from the grammar table."""
    sections = help_sections(topic)
    text = f"/vro help {topic}" if topic else "/vro commands"
    return Message(text, [section(s) for s in sections])
