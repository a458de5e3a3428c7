"""The parser: the text after ``/vro`` -> :class:`ParsedCommand` or :class:`ParseError`, driven
by the verb table; it never raises."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    RefKind,
    TimeDirection,
    ValueType,
    VerbSpec,
)
from bot.slack.grammar.times import TimeParseError, _looks_like_clock, parse_time
from bot.slack.grammar.tokens import _option_name, _SyntaxProblem, _Token, _tokenize, _unescape_slack
from bot.slack.grammar.verbs import GENERAL_USAGE, VERBS, lookup_verb, match_choice

# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A name the user typed that still has to be resolved against VRO."""

    kind: RefKind
    text: str
    param: str | None = None  # the perform param that receives the resolved id


@dataclass(frozen=True)
class ParsedCommand:
    """A well-formed command. Names are not resolved yet (that needs VRO).

    ``params`` holds the ``bot.vro.actions.perform`` params the text fully determines (flags,
    ISO times, the continue option, the clone name); ``refs`` holds the names still to resolve,
    keyed by argument/option name (``location``, ``previous``, ``group``, ``vm``, ``step``), each
    saying which perform param (if any) receives the resolved id. :meth:`perform_params` merges
    both once the ids are known.
    """

    verb: str
    source: str = ""
    plan: str | None = None
    action: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str | bool] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    refs: Mapping[str, Ref] = field(default_factory=dict)
    reason: str | None = None
    public: bool = False

    @property
    def spec(self) -> VerbSpec:
        return VERBS[self.verb]

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def destructive(self) -> bool:
        return self.spec.destructive

    @property
    def help_topic(self) -> str | None:
        """For ``help``: the verb to explain, or None for the list."""
        return self.args.get("command") if self.verb == "help" else None

    def perform_params(self, resolved_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The params for ``perform``: ``params`` plus the ids of the refs that feed a param.

        ``resolved_ids`` maps ref names (keys of ``refs``) to ids. A ref feeding a param that is
        missing from it raises ``KeyError`` naming the ref: resolve before performing.
        """
        merged = dict(self.params)
        for name, ref in self.refs.items():
            if ref.param is None:
                continue
            if resolved_ids is None or name not in resolved_ids:
                raise KeyError(f"the {ref.kind} “{ref.text}” ({name}) has not been resolved")
            merged[ref.param] = resolved_ids[name]
        return merged


@dataclass(frozen=True)
class ParseError:
    """What was wrong with a command, written for the person who typed it."""

    message: str
    usage: tuple[str, ...] = (GENERAL_USAGE,)
    verb: str | None = None
    suggestions: tuple[str, ...] = ()

    def render(self) -> str:
        """The full reply: the problem, then the usage line(s)."""
        lines = [self.message, *(f"Usage: `{line}`" for line in self.usage)]
        if self.verb and self.verb != "help":
            lines.append(f"More: `{COMMAND} help {self.verb}`")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------


def parse(text: str, *, now: datetime) -> ParsedCommand | ParseError:
    """Parse the text after ``/vro``. Never raises; every error names the problem and the usage.

    Blank text parses as ``help`` (the Bolt listener opens the modal for blank text instead).
    ``now`` anchors relative times such as ``14:00``.
    """
    try:
        return _parse(text, now=now)
    except _SyntaxProblem as problem:
        words = text.split(maxsplit=1)
        spec = lookup_verb(words[0]) if words else None
        return _error(spec, problem.message) if spec else ParseError(problem.message)


def _parse(text: str, *, now: datetime) -> ParsedCommand | ParseError:
    source = text
    if len(text) > MAX_TEXT_LENGTH:
        return ParseError(
            f"That command is {len(text):,} characters long; the most I read is {MAX_TEXT_LENGTH:,}."
        )
    tokens = _tokenize(_unescape_slack(text))
    if not tokens:
        return ParsedCommand(verb="help", source=source)
    head, rest = tokens[0], tokens[1:]
    spec = lookup_verb(head.text)
    if spec is None:
        return _unknown_verb(head.text)
    return _parse_verb(spec, rest, source=source, now=now)


def _unknown_verb(word: str) -> ParseError:
    shown = word if len(word) <= 40 else word[:40] + "…"
    close = difflib.get_close_matches(word.lower(), list(VERBS), n=3, cutoff=0.6)
    if close:
        listed = " or ".join(f"`{verb}`" for verb in close)
        message = (
            f"I don't know the command “{shown}”. Did you mean {listed}? `{COMMAND} help` lists them all."
        )
    else:
        message = f"I don't know the command “{shown}”. `{COMMAND} help` lists the commands."
    return ParseError(message, suggestions=tuple(close))


def _error(spec: VerbSpec, message: str) -> ParseError:
    return ParseError(message, usage=spec.usage_lines, verb=spec.verb)


def _parse_verb(
    spec: VerbSpec, tokens: list[_Token], *, source: str, now: datetime
) -> ParsedCommand | ParseError:
    positionals: list[_Token] = []
    runs: list[int] = []  # per positional: how many options came before it
    raw_options: dict[str, str | bool] = {}
    index = 0
    options_ended = False
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name = None if options_ended else _option_name(token)
        if token.text == "--" and not token.quoted and not options_ended:
            options_ended = True
            continue
        if name is None:
            positionals.append(token)
            runs.append(len(raw_options))
            continue
        name, has_value, inline_value = name.partition("=")
        key = name.lower().replace("_", "-")
        if key in {"help", "h"}:
            return ParsedCommand(verb="help", source=source, args={"command": spec.verb})
        option = spec.option(key)
        if option is None:
            return _error(spec, _unknown_option_message(spec, name))
        if key in raw_options:
            return _error(spec, f"`{option.flag}` is given twice; give it once.")
        if option.type is ValueType.FLAG:
            flag = _flag_value(inline_value if has_value else None)
            if flag is None:
                return _error(spec, f"`{option.flag}` is a switch: give it alone, or as `{option.flag}=no`.")
            raw_options[key] = flag
            continue
        if has_value:
            value = inline_value
        elif index < len(tokens) and _option_name(tokens[index]) is None:
            value = tokens[index].text
            index += 1
        else:
            return _error(spec, f"`{option.flag}` needs a value, e.g. `{option.synopsis}`.")
        # a date followed by a clock time ("2026-11-27 14:00") is one value
        if (
            option.type is ValueType.DATETIME
            and index < len(tokens)
            and not tokens[index].quoted
            and _looks_like_clock(tokens[index].text)
            and not _looks_like_clock(value)
        ):
            value = f"{value} {tokens[index].text}"
            index += 1
        raw_options[key] = value

    for group in spec.exclusive:
        given = sorted(group & raw_options.keys())
        if len(given) > 1:
            return _error(spec, "Use only one of " + " or ".join(f"`--{n}`" for n in given) + ".")

    form_or_error = _choose_form(spec, positionals, runs)
    if isinstance(form_or_error, ParseError):
        return form_or_error
    form, values = form_or_error
    return _build(spec, form, values, raw_options, source=source, now=now)


def _unknown_option_message(spec: VerbSpec, name: str) -> str:
    shown = name if len(name) <= 30 else name[:30] + "…"
    known = [o.name for o in spec.all_options]
    if not known:
        return f"`{spec.verb}` takes no options, and “--{shown}” is not one."
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    hint = f" Did you mean `--{close[0]}`?" if close else ""
    return (
        f"`{spec.verb}` has no option “--{shown}”.{hint} Its options: "
        + ", ".join(f"`--{k}`" for k in known)
        + "."
    )


_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def _flag_value(value: str | None) -> bool | None:
    """True for ``--flag`` or ``--flag=yes``, False for ``--flag=no``, None for anything else."""
    if value is None or value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    return None


def _choose_form(
    spec: VerbSpec, positionals: list[_Token], runs: list[int]
) -> tuple[Form, dict[str, str]] | ParseError:
    keyword_forms = [form for form in spec.forms if form.keyword]
    if not keyword_forms:
        values = _assign(spec, spec.forms[0].args, positionals, runs)
        return values if isinstance(values, ParseError) else (spec.forms[0], values)
    for position, token in enumerate(positionals):
        if position == 0 or token.quoted:
            continue
        form = next((f for f in keyword_forms if f.keyword == token.text.lower()), None)
        if form is None:
            continue
        left = _assign(spec, form.args[:1], positionals[:position], runs[:position])
        if isinstance(left, ParseError):
            return left
        right = _assign(spec, form.args[1:], positionals[position + 1 :], runs[position + 1 :])
        if isinstance(right, ParseError):
            return right
        return form, {**left, **right}
    if not positionals:
        return _error(
            spec,
            f"`{spec.verb}` needs a plan, then "
            + " or ".join(f"`{f.keyword} …`" for f in keyword_forms)
            + ".",
        )
    alternatives = " or ".join(f"`{f.keyword} <{f.args[-1].name}>`" for f in keyword_forms)
    return _error(spec, f"Say when after the plan: {alternatives}.")


def _assign(
    spec: VerbSpec, args: Sequence[ArgSpec], tokens: Sequence[_Token], runs: Sequence[int]
) -> dict[str, str] | ParseError:
    """Give each argument its words; a greedy argument takes whatever the others leave.

    A greedy argument's words must stand together: words split from it by an option are not
    glued on. ``failover SAP Tier1 --reason INC-42 DR Test`` is not a failover of the plan
    “SAP Tier1 DR Test”; the reason lacked its quotes.
    """
    values: dict[str, str] = {}
    greedy = next((i for i, arg in enumerate(args) if arg.greedy), None)
    if greedy is None:
        for arg, token in zip(args, tokens, strict=False):
            values[arg.name] = token.text
        extra = tokens[len(args) :]
        if extra:
            return _too_many(spec, args, extra)
    else:
        before, after = args[:greedy], args[greedy + 1 :]
        take_after = min(len(after), max(0, len(tokens) - len(before) - 1))
        for arg, token in zip(before, tokens, strict=False):
            values[arg.name] = token.text
        middle = tokens[len(before) : len(tokens) - take_after]
        middle_runs = runs[len(before) : len(tokens) - take_after]
        if len(set(middle_runs)) > 1:
            stray = [t for t, run in zip(middle, middle_runs, strict=True) if run != middle_runs[0]]
            return _split_words(spec, args[greedy], stray)
        if middle:
            values[args[greedy].name] = " ".join(t.text for t in middle)
        for arg, token in zip(after, tokens[len(tokens) - take_after :], strict=False):
            values[arg.name] = token.text
    for arg in args:
        if arg.required and not values.get(arg.name, "").strip():
            return _error(spec, _missing_message(spec, arg))
        if arg.name in values and not values[arg.name].strip():
            del values[arg.name]
    return values


def _too_many(spec: VerbSpec, args: Sequence[ArgSpec], extra: Sequence[_Token]) -> ParseError:
    shown = " ".join(t.text for t in extra)
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    if not args:
        return _error(spec, f"`{spec.verb}` takes no arguments, but got “{shown}”.")
    return _error(spec, f"I don't know what to do with “{shown}”. Put quotes around names with spaces.")


def _split_words(spec: VerbSpec, arg: ArgSpec, stray: Sequence[_Token]) -> ParseError:
    shown = " ".join(t.text for t in stray)
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    return _error(
        spec,
        f"I don't know what to do with “{shown}”: words after an option are not part of the {arg.name}. "
        'Put quotes around a value with spaces, e.g. `--reason "INC-42 site A lost"`, '
        "or give the options after the name.",
    )


def _missing_message(spec: VerbSpec, arg: ArgSpec) -> str:
    if arg.ref is RefKind.PLAN and arg.name == "plan":
        return f"Which plan? `{spec.verb}` needs a plan name or id."
    return f"`{spec.verb}` needs {arg.placeholder}: {arg.help}."


def _build(
    spec: VerbSpec,
    form: Form,
    values: Mapping[str, str],
    raw_options: Mapping[str, str | bool],
    *,
    source: str,
    now: datetime,
) -> ParsedCommand | ParseError:
    params: dict[str, Any] = {}
    refs: dict[str, Ref] = {}
    args: dict[str, str] = {}
    options: dict[str, str | bool] = {}
    plan: str | None = None

    for arg in form.args:
        if arg.name not in values:
            continue
        value = values[arg.name].strip()
        if arg.name == "plan":
            plan = value
            continue
        converted = _convert(spec, arg.name, arg.type, arg.choices, arg.direction, value, now=now)
        if isinstance(converted, ParseError):
            return converted
        args[arg.name] = converted
        if arg.ref is not None:
            refs[arg.name] = Ref(arg.ref, converted, arg.param)
        elif arg.param:
            params[arg.param] = converted

    if spec.verb == "help" and "command" in args:
        topic = lookup_verb(args["command"])
        if topic is None:
            return _unknown_verb(args["command"])
        args["command"] = topic.verb

    reason: str | None = None
    public = False
    for name, raw in raw_options.items():
        option = spec.option(name)
        assert option is not None  # checked while reading
        if option is REASON_OPTION:
            reason = " ".join(str(raw).split())
            if not reason:
                return _error(spec, 'The reason is empty. Say why, e.g. `--reason "INC-42 site A lost"`.')
            if len(reason) > MAX_REASON_LENGTH:
                return _error(
                    spec, f"The reason is {len(reason)} characters long; keep it under {MAX_REASON_LENGTH}."
                )
            continue
        if option is PUBLIC_OPTION:
            public = bool(raw)
            continue
        if isinstance(raw, bool):
            options[name] = raw
            if option.param and raw:
                params[option.param] = True
            continue
        converted = _convert(
            spec, option.flag, option.type, option.choices, option.direction, raw.strip(), now=now
        )
        if isinstance(converted, ParseError):
            return converted
        options[name] = converted
        if option.ref is not None:
            refs[name] = Ref(option.ref, converted, option.param)
        elif option.param:
            params[option.param] = converted

    return ParsedCommand(
        verb=spec.verb,
        source=source,
        plan=plan,
        action=form.action,
        args=args,
        options=options,
        params=params,
        refs=refs,
        reason=reason,
        public=public,
    )


def _convert(
    spec: VerbSpec,
    label: str,
    kind: ValueType,
    choices: Sequence[Choice],
    direction: TimeDirection | None,
    value: str,
    *,
    now: datetime,
) -> str | ParseError:
    """Check and normalize one value: ISO string for times, canonical value for choices."""
    if not value:
        return _error(spec, f"`{label}` is empty.")
    if kind is ValueType.DATETIME:
        try:
            return parse_time(value, now=now, direction=direction).isoformat()
        except TimeParseError as exc:
            return _error(spec, str(exc))
    if kind is ValueType.CHOICE:
        choice = match_choice(value, choices)
        if choice is None:
            shown = value if len(value) <= 40 else value[:40] + "…"
            accepted = ", ".join(f"`{c.aliases[0] if c.aliases else c.value}`" for c in choices)
            return _error(spec, f"“{shown}” is not a valid {label.lstrip('-')}. Use one of: {accepted}.")
        return choice.value
    return value
