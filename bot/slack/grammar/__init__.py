"""The ``/vro`` command grammar: one table, one entry per verb, and a parser driven by it.

The table (:data:`VERBS`) is the single source of the grammar, the help texts, the usage lines
and the README command reference, so they cannot drift apart. :func:`parse` turns the text of a
slash command into a :class:`ParsedCommand` or a :class:`ParseError`; it never raises.

Things the parser accepts because people type them under stress:

* shell-like quoting with ``"..."`` and ``'...'`` and Slack's smart quotes (“ ” ‘ ’); an
  apostrophe inside a word (``Bob’s``) is just a character;
* ``--opt value`` and ``--opt=value``; option names in any case; the em / en dash that phones
  and macOS put in place of ``--`` (``—reason``); ``--`` ends the options;
* verbs in any case, with or without dashes (``PermanentFailover``), and VRO's operation names
  (``ReadinessCheck``);
* a plan name with spaces but without quotes when nothing can follow it (``status SAP Tier1``);
* Slack's HTML escaping of ``&``, ``<`` and ``>``.

Times (``--restore-point``, ``schedule <plan> at <time>``) are UTC unless an offset is given:
``2026-11-27T14:00``, ``2026-11-27 14:00``, ``2026/11/27 14:00``, ``2026-11-27T14:00+02:00``,
``2026-11-27 14:00 UTC``, ``14:00`` (the most recent 14:00 for a restore point, the next one for
a schedule), ``today 14:00``, ``tomorrow 09:30``, ``yesterday 23:00``. A restore point must not
be in the future and a schedule must not be in the past. Parsed times are passed on as ISO
strings in UTC.

Plan, group, VM, step and location names stay unresolved strings (resolution needs VRO); see
:mod:`bot.slack.resolve`.

The package (import from ``bot.slack.grammar``; the modules are its parts):

* :mod:`.spec`: the vocabulary (verb, argument and option specs)
* :mod:`.times`: times people type
* :mod:`.tokens`: splitting text into tokens
* :mod:`.verbs`: the verb table (:data:`VERBS`) and verb lookup
* :mod:`.parser`: text -> :class:`ParsedCommand` or :class:`ParseError`
"""

from bot.slack.grammar.parser import ParsedCommand, ParseError, Ref, parse
from bot.slack.grammar.spec import (
    COMMAND,
    MAX_REASON_LENGTH,
    MAX_TEXT_LENGTH,
    PUBLIC_OPTION,
    REASON_OPTION,
    ArgSpec,
    Choice,
    Form,
    Kind,
    OptionSpec,
    RefKind,
    TimeDirection,
    ValueType,
    VerbSpec,
)
from bot.slack.grammar.times import TimeParseError, format_time, parse_time
from bot.slack.grammar.verbs import (
    CONTINUE_OPTIONS,
    GENERAL_USAGE,
    PLAN_ACTIONS,
    PLAN_TYPES,
    SCHEDULE_KEYWORDS,
    VERB_FOR_ACTION,
    VERBS,
    lookup_verb,
    match_choice,
)

__all__ = [
    "COMMAND",
    "CONTINUE_OPTIONS",
    "GENERAL_USAGE",
    "MAX_REASON_LENGTH",
    "MAX_TEXT_LENGTH",
    "PLAN_ACTIONS",
    "PLAN_TYPES",
    "PUBLIC_OPTION",
    "REASON_OPTION",
    "SCHEDULE_KEYWORDS",
    "VERBS",
    "VERB_FOR_ACTION",
    "ArgSpec",
    "Choice",
    "Form",
    "Kind",
    "OptionSpec",
    "ParseError",
    "ParsedCommand",
    "Ref",
    "RefKind",
    "TimeDirection",
    "TimeParseError",
    "ValueType",
    "VerbSpec",
    "format_time",
    "lookup_verb",
    "match_choice",
    "parse",
    "parse_time",
]
