"""A channel of the sandbox as a readable transcript: plain text lines, or a ``rich`` renderable.

Block Kit is approximated as text: headers, sections (text, fields, accessory), context,
dividers, inputs, images, rich text, and interactive elements as ``1:[Approve]``. Every button
gets a number, unique within the transcript, and :attr:`Transcript.buttons` maps the number to
the message and action it stands for, so a demo can say "press 1" and click it with the driver.

Threads are shown under their parent, indented with ``│``; ephemeral messages appear only for
the ``viewer`` they were meant for. Mentions are resolved to names (``<@U0ALICE>`` -> ``@alice``)
and emoji codes to emoji (``:rocket:`` -> 🚀), as Slack shows them. :meth:`Transcript.since`
keeps what changed after a given ``ts`` (numbering unchanged), so a demo can print each thing once.

Pure: reads a :class:`~bot.sandbox.workspace.Workspace`, changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.emoji import Emoji
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.sandbox.content import ts_to_datetime
from bot.sandbox.models import EphemeralMessage, Message
from bot.sandbox.workspace import Workspace

Segment = tuple[str, str | None]
"""A piece of text and its rich style (None: unstyled)."""

THREAD_GUIDE = "│ "
DIVIDER = "─" * 24


@dataclass(frozen=True)
class ButtonRef:
    """What button number N in a transcript stands for."""

    number: int
    channel: str
    message_ts: str
    action_id: str
    value: str | None
    text: str
    style: str | None = None
    ephemeral_for: str | None = None
    """The user who sees the message, when the button sits on an ephemeral message."""


@dataclass(frozen=True)
class Line:
    """One transcript line: inside a thread or not, indented, made of styled segments."""

    indent: int
    segments: tuple[Segment, ...]
    in_thread: bool = False
    changed_ts: str = ""
    """The ``ts`` of the message the line belongs to, or of its last edit."""

    @property
    def prefix(self) -> str:
        return (THREAD_GUIDE if self.in_thread else "") + "  " * self.indent

    @property
    def text(self) -> str:
        return self.prefix + "".join(text for text, _ in self.segments)


@dataclass
class Transcript:
    """A rendered channel."""

    channel: str
    title: str
    lines_detail: list[Line] = field(default_factory=list)
    buttons: dict[int, ButtonRef] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return [line.text for line in self.lines_detail]

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    def since(self, ts: str | None) -> Transcript:
        """Only the lines of messages posted or edited after ``ts`` (all of them for None);
        button numbers and :attr:`buttons` stay those of the whole transcript."""
        if ts is None:
            return self
        after = ts_key(ts)
        kept = [line for line in self.lines_detail if line.changed_ts and ts_key(line.changed_ts) > after]
        return Transcript(channel=self.channel, title=self.title, lines_detail=kept, buttons=self.buttons)

    @property
    def latest_ts(self) -> str | None:
        """The newest post or edit shown (for a later :meth:`since`)."""
        stamps = [line.changed_ts for line in self.lines_detail if line.changed_ts]
        return max(stamps, key=ts_key) if stamps else None

    def rich(self, *, title: str | None = None) -> Panel:
        """The same transcript as a ``rich`` panel (styles for names, times, buttons); wrapped
        lines keep their margin (and their thread guide)."""
        rows: list[Table | Text] = []
        for line in self.lines_detail:
            margin = line.prefix
            text = Text()
            for piece, style in line.segments:
                if style is None:
                    _append_mrkdwn(text, piece)
                else:
                    text.append(piece, style=style)
            if not margin:
                rows.append(text)
                continue
            # A one-row grid per line: its margin column is exactly this line's, so a wrapped
            # line continues under its own text, not at the panel's edge.
            row = Table.grid(padding=0)
            row.add_column(width=len(margin), no_wrap=True)
            row.add_column(overflow="fold")
            row.add_row(Text(margin, style="dim"), text)
            rows.append(row)
        return Panel(
            Group(*rows), title=title or self.title, title_align="left", border_style="blue", expand=False
        )


_EMPHASIS = re.compile(r"(\*[^*\n]+\*|_[^_\n]+_|`[^`\n]+`|~[^~\n]+~)")
_EMPHASIS_STYLES = {"*": "bold", "_": "italic", "`": "bold magenta", "~": "strike"}


def _append_mrkdwn(text: Text, piece: str) -> None:
    """Append ``piece`` with Slack's ``*bold*``, ``_italic_``, ```code``` and ``~strike~`` styled."""
    position = 0
    for match in _EMPHASIS.finditer(piece):
        text.append(piece[position : match.start()])
        token = match.group(0)
        text.append(token[1:-1], style=_EMPHASIS_STYLES[token[0]])
        position = match.end()
    text.append(piece[position:])


def render_channel(
    workspace: Workspace, channel_id: str, *, viewer: str | None = None, first_button: int = 1
) -> Transcript:
    """Render ``channel_id``: top-level messages oldest first, each followed by its thread.

    ``viewer`` also shows the ephemeral messages addressed to that user.
    """
    with workspace.lock:
        channel = workspace.channels.get(channel_id)
        title = f"#{channel.name}" if channel is not None and not channel.is_im else channel_id
        renderer = _Renderer(workspace, channel_id, viewer=viewer, first_button=first_button)
        transcript = Transcript(channel=channel_id, title=title)
        ephemerals = workspace.ephemerals_for(channel_id, viewer) if viewer is not None else []
        top: list[Message | EphemeralMessage] = [*workspace.top_level(channel_id)]
        top.extend(e for e in ephemerals if e.thread_ts is None)
        for item in sorted(top, key=lambda m: ts_key(m.ts)):
            if isinstance(item, EphemeralMessage):
                renderer.ephemeral(item, in_thread=False)
                continue
            renderer.message(item, in_thread=False)
            if item.is_reply:
                continue  # a broadcast reply: its thread is shown under the parent
            thread: list[Message | EphemeralMessage] = [*workspace.thread(channel_id, item.ts)]
            thread.extend(e for e in ephemerals if e.thread_ts == item.ts)
            for reply in sorted(thread, key=lambda m: ts_key(m.ts)):
                if isinstance(reply, EphemeralMessage):
                    renderer.ephemeral(reply, in_thread=True)
                else:
                    renderer.message(reply, in_thread=True)
        transcript.lines_detail = renderer.lines
        transcript.buttons = renderer.buttons
        return transcript


def render_channel_rich(workspace: Workspace, channel_id: str, *, viewer: str | None = None) -> Panel:
    """:func:`render_channel` as a ``rich`` renderable for the demo."""
    return render_channel(workspace, channel_id, viewer=viewer).rich()


def render_blocks(
    blocks: Sequence[Mapping[str, Any]], *, names: Mapping[str, str] | None = None
) -> list[str]:
    """Blocks as plain text lines (buttons numbered from 1), for tests and logs."""
    renderer = _Renderer(None, "", viewer=None, first_button=1, names=names)
    renderer.blocks(blocks, indent=0, ref=None)
    return [line.text for line in renderer.lines]


# ---------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _MessageRef:
    channel: str
    ts: str
    ephemeral_for: str | None


class _Renderer:
    def __init__(
        self,
        workspace: Workspace | None,
        channel_id: str,
        *,
        viewer: str | None,
        first_button: int,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.channel_id = channel_id
        self.viewer = viewer
        self.next_button = first_button
        self.lines: list[Line] = []
        self.in_thread = False
        self.changed_ts = ""
        self.buttons: dict[int, ButtonRef] = {}
        self.names: dict[str, str] = dict(names or {})
        if workspace is not None:
            self.names.update({u.id: u.name for u in workspace.users.values()})
            self.names.update({c.id: c.name for c in workspace.channels.values()})

    def _emit(self, indent: int, *segments: Segment) -> None:
        self.lines.append(
            Line(
                indent=indent, segments=tuple(segments), in_thread=self.in_thread, changed_ts=self.changed_ts
            )
        )

    def _head(self, ts: str, user: str, suffix: str | None) -> list[Segment]:
        clock = ts_to_datetime(ts).strftime("%H:%M:%S")
        head: list[Segment] = [(f"[{clock}] ", "dim"), (self.names.get(user, user), "bold cyan")]
        if suffix:
            head.append((f" ({suffix})", "italic dim"))
        head.append((": ", None))
        return head

    def message(self, message: Message, *, in_thread: bool) -> None:
        self.in_thread = in_thread
        self.changed_ts = message.edited_ts or message.ts
        notes = []
        if message.edited_ts is not None:
            notes.append("edited")
        if message.is_reply and message.reply_broadcast and not in_thread:
            notes.append("replied to a thread")
        head = self._head(message.ts, message.user, ", ".join(notes) or None)
        ref = _MessageRef(message.channel, message.ts, None)
        self._body(head, message.text, message.blocks, ref=ref)

    def ephemeral(self, message: EphemeralMessage, *, in_thread: bool) -> None:
        self.in_thread = in_thread
        self.changed_ts = message.ts
        head = self._head(message.ts, self._bot_user(), "only visible to you")
        ref = _MessageRef(message.channel, message.ts, message.user)
        self._body(head, message.text, message.blocks, ref=ref)

    def _bot_user(self) -> str:
        return self.workspace.bot_user_id if self.workspace is not None else "bot"

    def _body(
        self, head: list[Segment], text: str, blocks: Sequence[Mapping[str, Any]], *, ref: _MessageRef
    ) -> None:
        if not blocks:
            first, *rest = self.mrkdwn(text).split("\n")
            self._emit(0, *head, (first, None))
            for line in rest:
                self._emit(1, (line, None))
            return
        self._emit(0, *head[:-1])
        self.blocks(blocks, indent=1, ref=ref)

    # ------------------------------------------------------------------ blocks

    def blocks(self, blocks: Sequence[Mapping[str, Any]], *, indent: int, ref: _MessageRef | None) -> None:
        for block in blocks:
            kind = block.get("type")
            if kind == "header":
                self._emit(indent, (_plain(block.get("text")), "bold underline"))
            elif kind == "section":
                self._section(block, indent=indent, ref=ref)
            elif kind == "context":
                parts = [self._element_text(e) for e in block.get("elements") or []]
                for line in " ".join(p for p in parts if p).split("\n"):
                    self._emit(indent, (line, "dim"))
            elif kind == "divider":
                self._emit(indent, (DIVIDER, "dim"))
            elif kind == "actions":
                segments = self._elements(block.get("elements") or [], ref=ref)
                if segments:
                    self._emit(indent, *segments)
            elif kind == "input":
                label = _plain(block.get("label"))
                element = block.get("element") or {}
                self._emit(indent, (f"{label}: ", "bold"), (f"[{_element_placeholder(element)}]", "dim"))
            elif kind == "image":
                self._emit(indent, (f"[image: {block.get('alt_text', '')}]", "dim"))
            elif kind == "rich_text":
                for line in _rich_text(block).split("\n"):
                    self._emit(indent, (self.mrkdwn(line), None))
            elif kind == "markdown":
                for line in str(block.get("text", "")).split("\n"):
                    self._emit(indent, (self.mrkdwn(line), None))
            else:
                self._emit(indent, (f"[{kind}]", "dim"))

    def _section(self, block: Mapping[str, Any], *, indent: int, ref: _MessageRef | None) -> None:
        text = block.get("text")
        lines = self.mrkdwn(_plain(text)).split("\n") if text else []
        accessory = block.get("accessory")
        tail = self._elements([accessory], ref=ref) if isinstance(accessory, dict) else []
        for index, line in enumerate(lines):
            last = index == len(lines) - 1
            self._emit(indent, (line, None), *(([(" ", None), *tail]) if last and tail else []))
        fields = [self.mrkdwn(_plain(f)).replace("\n", " ") for f in block.get("fields") or []]
        for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
            self._emit(indent, (left.ljust(28) + ("  " + right if right else ""), None))
        if not lines and tail:
            self._emit(indent, *tail)

    def _elements(self, elements: Sequence[Any], *, ref: _MessageRef | None) -> list[Segment]:
        segments: list[Segment] = []
        for element in elements:
            if not isinstance(element, dict):
                continue
            if segments:
                segments.append(("  ", None))
            if element.get("type") == "button":
                number = self._number_button(element, ref)
                style = {"primary": "bold green", "danger": "bold red"}.get(str(element.get("style")), "bold")
                segments.append((f"{number}:", "dim"))
                segments.append((f"[{_plain(element.get('text'))}]", style))
            else:
                segments.append((f"[{_element_placeholder(element)} ▾]", "dim"))
        return segments

    def _number_button(self, element: Mapping[str, Any], ref: _MessageRef | None) -> int:
        number = self.next_button
        self.next_button += 1
        if ref is not None:
            value = element.get("value")
            self.buttons[number] = ButtonRef(
                number=number,
                channel=ref.channel,
                message_ts=ref.ts,
                action_id=str(element.get("action_id", "")),
                value=None if value is None else str(value),
                text=_plain(element.get("text")),
                style=None if element.get("style") is None else str(element.get("style")),
                ephemeral_for=ref.ephemeral_for,
            )
        return number

    def _element_text(self, element: Mapping[str, Any]) -> str:
        if element.get("type") == "image":
            return f"[{element.get('alt_text', 'image')}]"
        return self.mrkdwn(_plain(element))

    # ------------------------------------------------------------------ mrkdwn

    def mrkdwn(self, text: str) -> str:
        """Slack's escapes and mentions as readable text."""

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            target, _, label = inner.partition("|")
            if target.startswith("@"):
                return "@" + (label or self.names.get(target[1:], target[1:]))
            if target.startswith("#"):
                return "#" + (label or self.names.get(target[1:], target[1:]))
            if target.startswith("!subteam^"):
                return label or "@" + target.removeprefix("!subteam^")
            if target.startswith("!date^"):
                return label or target
            if target.startswith("!"):
                return "@" + target[1:]
            return label or target

        resolved = emojize(re.sub(r"<([^<>]+)>", replace, text))
        return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


SLACK_EMOJI: dict[str, str] = {
    # Slack's names that rich's emoji table spells differently or lacks.
    "octagonal_sign": "🛑",
    "large_green_circle": "🟢",
    "large_yellow_circle": "🟡",
    "large_orange_circle": "🟠",
    "large_purple_circle": "🟣",
    "memory": "📝",
}
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")


def emojize(text: str) -> str:
    """Slack emoji codes (``:rotating_light:``) as the characters Slack shows; unknown codes stay."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in SLACK_EMOJI:
            return SLACK_EMOJI[name]
        return Emoji.replace(match.group(0))

    return _EMOJI_CODE.sub(replace, text)


def _plain(obj: object) -> str:
    if isinstance(obj, Mapping):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def _element_placeholder(element: Mapping[str, Any]) -> str:
    placeholder = element.get("placeholder")
    if placeholder:
        return _plain(placeholder)
    initial = element.get("initial_option")
    if isinstance(initial, Mapping):
        return _plain(initial.get("text"))
    return str(element.get("type", "input")).replace("_", " ")


def _rich_text(block: Mapping[str, Any]) -> str:
    def walk(node: Any) -> str:
        if isinstance(node, Mapping):
            kind = node.get("type")
            if kind == "text":
                return str(node.get("text", ""))
            if kind == "user":
                return f"<@{node.get('user_id', '')}>"
            if kind == "link":
                return str(node.get("text") or node.get("url", ""))
            if kind == "emoji":
                return f":{node.get('name', '')}:"
            return "".join(walk(child) for child in node.get("elements") or [])
        if isinstance(node, list):
            return "".join(walk(child) for child in node)
        return ""

    return walk(block.get("elements") or [])


def ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


__all__ = [
    "ButtonRef",
    "Line",
    "Transcript",
    "emojize",
    "render_blocks",
    "render_channel",
    "render_channel_rich",
]
