"""Splitting the text of a command into tokens: quotes (Slack's smart ones too), ``--opt=value``,
the dashes autocorrect puts in place of ``--``, Slack's HTML escaping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# ----------------------------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------------------------

_DOUBLE_QUOTES: Final = '"“”„‟'
_SINGLE_QUOTES: Final = "'‘’‚‛"
_QUOTES: Final = _DOUBLE_QUOTES + _SINGLE_QUOTES
_DASHES: Final = "—–−"  # em dash, en dash, minus: what autocorrect makes of "--"


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool  # some part of it was quoted
    starts_quoted: bool  # it began with a quote: never an option, always a value


class _SyntaxProblem(Exception):
    """Internal: a problem found while reading, turned into a ParseError by ``parse``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _unescape_slack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _tokenize(text: str) -> list[_Token]:
    """Split like a shell would, but forgiving: see the module docstring."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        parts: list[str] = []
        quoted = starts_quoted = False
        # a quote opens a quoted part at the start of a word, or right after "--option="
        may_open = True
        looks_like_option = text[i] in "-" + _DASHES
        while i < n and not text[i].isspace():
            char = text[i]
            if char in _QUOTES and may_open:
                closers = _DOUBLE_QUOTES if char in _DOUBLE_QUOTES else _SINGLE_QUOTES
                i, chunk = _read_quoted(text, i + 1, closers)
                starts_quoted = starts_quoted or not parts
                parts.append(chunk)
                quoted = True
                may_open = False
                continue
            parts.append(char)
            may_open = looks_like_option and char == "=" and not quoted
            i += 1
        tokens.append(_Token("".join(parts), quoted, starts_quoted))
    return tokens


def _read_quoted(text: str, start: int, closers: str) -> tuple[int, str]:
    chunk: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and (text[i + 1] in _QUOTES or text[i + 1] == "\\"):
            chunk.append(text[i + 1])
            i += 2
            continue
        if char in closers:
            return i + 1, "".join(chunk)
        chunk.append(char)
        i += 1
    opened = "".join(chunk).strip()
    shown = opened if len(opened) <= 40 else opened[:40] + "…"
    where = f"before “{shown}”" if shown else "at the end"
    raise _SyntaxProblem(f"The quote {where} is never closed. Close it, or leave the quotes out.")


def _option_name(token: _Token) -> str | None:
    """``reason`` for ``--reason``, ``—reason`` or ``-reason``; None when not an option."""
    if token.starts_quoted:
        return None
    text = token.text
    if text.startswith("--") and len(text) > 2:
        return text[2:]
    if text[:1] in _DASHES and len(text.lstrip(_DASHES + "-")) > 0:
        return text.lstrip(_DASHES + "-")
    if text.startswith("-") and len(text) > 1 and text[1].isalpha():
        return text[1:]
    return None
