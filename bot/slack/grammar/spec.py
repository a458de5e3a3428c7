"""The vocabulary of the ``/vro`` grammar: what a verb, its arguments and options are, and what
parsing returns (:class:`ParsedCommand`, :class:`ParseError`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bot.vro.operations import spec_of

COMMAND: Final = "/vro"
MAX_REASON_LENGTH: Final = 500
MAX_TEXT_LENGTH: Final = 4000


# ----------------------------------------------------------------------------------------------
# Vocabulary of the table
# ----------------------------------------------------------------------------------------------


class Kind(StrEnum):
    """What a verb does: read VRO, change VRO (through approvals), or act on the bot itself."""

    QUERY = "query"
    ACTION = "action"
    LOCAL = "local"


class ValueType(StrEnum):
    """How an argument or option value is read."""

    FLAG = "flag"
    STRING = "string"
    DATETIME = "datetime"
    CHOICE = "choice"


class RefKind(StrEnum):
    """Things named by the user that only VRO can turn into ids."""

    PLAN = "plan"
    GROUP = "group"
    VM = "vm"
    STEP = "step"
    LOCATION = "location"


class TimeDirection(StrEnum):
    """Which side of *now* a time must be on (decides what a bare ``14:00`` means)."""

    PAST = "past"
    FUTURE = "future"


@dataclass(frozen=True)
class Choice:
    """One accepted value of a choice: the canonical value, a label and friendly spellings."""

    value: str
    label: str
    aliases: tuple[str, ...] = ()

    def spellings(self) -> tuple[str, ...]:
        return (self.value, *self.aliases)


@dataclass(frozen=True)
class ArgSpec:
    """A positional argument."""

    name: str
    help: str
    type: ValueType = ValueType.STRING
    required: bool = True
    greedy: bool = False  # takes every remaining word, so names need no quotes
    ref: RefKind | None = None
    param: str | None = None  # key in ``bot.vro.actions.perform`` params
    choices: tuple[Choice, ...] = ()
    direction: TimeDirection | None = None
    metavar: str = ""  # shown in usage instead of the name

    @property
    def placeholder(self) -> str:
        label = self.metavar or self.name
        return f"<{label}>" if self.required else f"[{label}]"


@dataclass(frozen=True)
class OptionSpec:
    """A ``--name`` option."""

    name: str
    type: ValueType
    help: str
    metavar: str = ""
    param: str | None = None
    ref: RefKind | None = None
    choices: tuple[Choice, ...] = ()
    direction: TimeDirection | None = None

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def synopsis(self) -> str:
        if self.type is ValueType.FLAG:
            return self.flag
        return f"{self.flag} {self.metavar or self.name.upper()}"


@dataclass(frozen=True)
class Form:
    """One shape of a verb's arguments. Only ``schedule`` has two (``at`` / ``after``)."""

    args: tuple[ArgSpec, ...] = ()
    action: str | None = None  # the ``PlanAction`` name this form performs
    keyword: str | None = None  # a literal word after the first argument

    def synopsis(self, verb: str) -> str:
        parts = [verb]
        for index, arg in enumerate(self.args):
            if index == 1 and self.keyword:
                parts.append(self.keyword)
            parts.append(arg.placeholder)
        return " ".join(parts)


@dataclass(frozen=True)
class VerbSpec:
    """Everything about one verb: grammar, help, what it calls in VRO and how it is authorized."""

    verb: str
    kind: Kind
    summary: str
    help: str
    vro_call: str
    forms: tuple[Form, ...] = (Form(),)
    options: tuple[OptionSpec, ...] = ()
    policy_verb: str | None = None  # key in the policy file; None = a read (role ``viewer``)
    destructive: bool = False  # Approve carries a confirm dialog
    exclusive: tuple[frozenset[str], ...] = ()  # option names that cannot be combined
    examples: tuple[str, ...] = ()

    @property
    def actions(self) -> tuple[str, ...]:
        """The ``PlanAction`` names this verb can perform."""
        return tuple(form.action for form in self.forms if form.action)

    @property
    def versions(self) -> str:
        """Which VRO releases have this command (``VRO 13+``); empty when all of them do."""
        notes = {spec_of(action).versions_note for action in self.actions}
        return " / ".join(sorted(note for note in notes if note))

    @property
    def takes_plan(self) -> bool:
        return any(arg.ref is RefKind.PLAN and arg.name == "plan" for form in self.forms for arg in form.args)

    @property
    def all_options(self) -> tuple[OptionSpec, ...]:
        """The verb's own options plus the common ones (``--reason`` or ``--public``)."""
        common = (REASON_OPTION,) if self.kind is Kind.ACTION else ()
        if self.kind is not Kind.ACTION and self.verb not in _NO_PUBLIC:
            common = (PUBLIC_OPTION,)
        return (*self.options, *common)

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.all_options if o.name == name), None)

    @property
    def usage_lines(self) -> tuple[str, ...]:
        """``/vro failover <plan> [--restore-point TIME] [--chained] [--reason "..."]``, one per form."""
        option_text = " ".join(f"[{o.synopsis}]" for o in self.all_options)
        lines = []
        for form in self.forms:
            line = f"{COMMAND} {form.synopsis(self.verb)}"
            lines.append(f"{line} {option_text}" if option_text else line)
        return tuple(lines)

    @property
    def usage(self) -> str:
        return "  |  ".join(self.usage_lines)


REASON_OPTION: Final = OptionSpec(
    "reason", ValueType.STRING, "why: shown on the approval card and kept in the audit log", metavar='"..."'
)
PUBLIC_OPTION: Final = OptionSpec(
    "public", ValueType.FLAG, "post the answer in the channel instead of only to you"
)
_NO_PUBLIC: Final = frozenset({"watch", "unwatch"})
