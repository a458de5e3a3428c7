"""Structured logs: JSON lines on a server, readable lines on a terminal, secrets never.

:func:`configure_logging` routes structlog *and* the standard library (Bolt, uvicorn, httpx,
SQLAlchemy) through one handler on the root logger, whose formatter runs the same processors
for both: context variables (request id, user, plan, verb bound once per request with
:func:`request_context`), level, logger name, an ISO timestamp, the exception as text, then the
:class:`Redactor`, then the renderer. The rendered line goes through the redactor once more, so
a secret hidden in some object's ``repr`` is caught too.

Nothing happens at import time; the composition root calls :func:`configure_logging` once
(uvicorn must then be started with ``log_config=None`` so it keeps this setup).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Literal, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

from bot.errors import ConfigError

__all__ = [
    "REDACTED",
    "LogFormat",
    "LoggingSetup",
    "Redactor",
    "bind_context",
    "configure_logging",
    "new_request_id",
    "request_context",
]

REDACTED: Final = "[REDACTED]"
LogFormat = Literal["auto", "json", "console"]

# Third-party loggers that are chatty at INFO (httpx logs every request, the watcher polls every
# few seconds): they speak from WARNING up unless the bot itself runs at DEBUG.
QUIET_LIBRARIES: Final = ("httpx", "httpcore", "sqlalchemy.engine", "aiosqlite", "asyncio")
# uvicorn installs its own handlers when it configures logging; these must propagate to ours.
UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")

_SECRET_KEY = re.compile(
    r"(?i)(?:pass(?:word|wd|phrase)?|secret|token|authorization|cookie|api[_-]?key|credentials?)$"
)
_TOKEN_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # Slack tokens: xoxb- (bot), xoxp- (user), xoxa-/xoxr-/xoxe- (rotation), xapp- (app-level).
    (re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+"), REDACTED),
    # Not Slack's settings page "Basic Information", which the advice on a refused token names.
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!(?-i:Information)\b)[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    (
        re.compile(
            r"(?i)\b((?:password|passwd|client_secret|refresh_token|access_token|mfa_token|mfa_passcode"
            r"|signing_secret|secret)=)[^\s&\"'\\]+"
        ),
        rf"\1{REDACTED}",
    ),
    (
        re.compile(
            r"(?i)([\"'](?:password|passwd|client_secret|refresh_token|access_token|mfa_token"
            r"|mfa_passcode|secret|token)[\"']\s*:\s*[\"'])[^\"']*"
        ),
        rf"\1{REDACTED}",
    ),
    # user:password@ in URLs (DATABASE_URL, proxies).
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+(@)"), rf"\1{REDACTED}\2"),
)


MIN_LITERAL_SECRET = 4
"""The shortest registered secret that is searched for inside arbitrary text."""


class Redactor:
    """Removes secrets from log events and texts: known token shapes, ``key=value`` pairs of
    secret-looking keys, values under secret-looking keys, and explicit values registered
    with :meth:`add` (the configured passwords and tokens).

    Use it as a structlog processor, or call :meth:`text` on any string bound for a user."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._literals: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register exact secret values.

        Values shorter than :data:`MIN_LITERAL_SECRET` are not matched as substrings: a
        one-letter test password would otherwise blank out every word holding that letter.
        (Values under secret-looking keys and known token shapes are redacted whatever their length.)
        """
        for secret in secrets:
            if len(secret) < MIN_LITERAL_SECRET:
                continue
            # The value as it appears raw, JSON-escaped and repr-escaped in a rendered line.
            for form in (secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]):
                if form not in self._literals:
                    self._literals.append(form)
        # Longest first, so a secret containing another is replaced whole.
        self._literals.sort(key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``[REDACTED]``."""
        for literal in self._literals:
            if literal in value:
                value = value.replace(literal, REDACTED)
        for pattern, replacement in _TOKEN_PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def value(self, value: object, *, key: str | None = None) -> object:
        """A copy of ``value`` (str, mapping, list, tuple, SecretStr) with secrets removed."""
        if key is not None and _SECRET_KEY.search(key) and value not in (None, "", REDACTED):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, Mapping):
            return {k: self.value(v, key=str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        return value

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        return {
            k: self.value(v, key=None if k in ("event", "exception") else k) for k, v in event_dict.items()
        }

    def wrap_renderer(self, renderer: Processor) -> Processor:
        """``renderer`` followed by a last pass over the rendered line."""

        def render(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
            rendered = renderer(logger, method, event_dict)
            if not isinstance(rendered, str):
                raise TypeError("the log renderer must return a string")
            return self.text(rendered)

        return render


class _BotHandler(logging.StreamHandler[TextIO]):
    """The one root handler :func:`configure_logging` installs (marked so it can be replaced)."""


@dataclass
class LoggingSetup:
    """What :func:`configure_logging` did; :meth:`restore` undoes it (tests, the demo)."""

    format: Literal["json", "console"]
    level: int
    redactor: Redactor
    handler: logging.Handler
    _saved_levels: dict[str, int] = field(default_factory=dict)

    def restore(self) -> None:
        """Remove the handler, restore logger levels and structlog's defaults."""
        logging.getLogger().removeHandler(self.handler)
        for name, level in self._saved_levels.items():
            logging.getLogger(name or None).setLevel(level)
        structlog.reset_defaults()


def parse_level(level: str | int) -> int:
    """A logging level from ``VRO_BOT_LOG_LEVEL`` (``debug``, ``INFO``, ``20`` ...)."""
    if isinstance(level, int):
        return level
    text = level.strip().upper()
    if text.isdigit():
        return int(text)
    mapping = logging.getLevelNamesMapping()
    if text == "WARN":
        text = "WARNING"
    if text not in mapping or text == "NOTSET":
        raise ConfigError("VRO_BOT_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return mapping[text]


def configure_logging(
    *,
    fmt: LogFormat = "auto",
    level: str | int = "INFO",
    redactor: Redactor | None = None,
    stream: TextIO | None = None,
) -> LoggingSetup:
    """Route structlog and standard-library logging to ``stream`` (default: stdout).

    ``fmt="auto"`` writes readable lines when ``stream`` is a terminal and JSON lines otherwise.
    Calling it again replaces the previous setup.
    """
    out = stream if stream is not None else sys.stdout
    numeric = parse_level(level)
    chosen: Literal["json", "console"] = ("console" if _isatty(out) else "json") if fmt == "auto" else fmt
    redact = redactor if redactor is not None else Redactor()

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    renderer: Processor
    if chosen == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_isatty(out), exception_formatter=structlog.dev.plain_traceback
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            # Exceptions become text before redaction; no renderer ever sees frame locals.
            structlog.processors.format_exc_info,
            redact,
            _leading_keys_first,
            redact.wrap_renderer(renderer),
        ],
    )
    handler = _BotHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    saved = {"": root.level}
    for existing in list(root.handlers):
        if isinstance(existing, _BotHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        lib = logging.getLogger(name)
        saved[name] = lib.level
        lib.setLevel(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING))
    for name in UVICORN_LOGGERS:
        uv = logging.getLogger(name)
        saved.setdefault(name, uv.level)
        uv.handlers.clear()
        uv.propagate = True

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: the demo and the tests reconfigure in one process.
        cache_logger_on_first_use=False,
    )
    return LoggingSetup(format=chosen, level=numeric, redactor=redact, handler=handler, _saved_levels=saved)


_LEADING_KEYS: Final = ("timestamp", "level", "logger", "event")


def _leading_keys_first(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Time, level, logger and message first: a JSON line reads like a log line."""
    ordered = {k: event_dict[k] for k in _LEADING_KEYS if k in event_dict}
    ordered.update((k, v) for k, v in event_dict.items() if k not in ordered)
    return ordered


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


# -- per-request context ------------------------------------------------------------------


def new_request_id() -> str:
    """A short random id that ties together the log lines of one command or click."""
    return uuid.uuid4().hex[:16]


@contextmanager
def request_context(*, request_id: str | None = None, **fields: object) -> Iterator[str]:
    """Bind ``request_id`` (a new one by default) and ``fields`` (user, verb, plan ...) to every
    log line inside the block; on exit the previous context comes back exactly, including
    anything :func:`bind_context` added inside. Yields the request id."""
    saved = structlog.contextvars.get_contextvars()
    rid = request_id or new_request_id()
    structlog.contextvars.bind_contextvars(
        request_id=rid, **{k: v for k, v in fields.items() if v is not None}
    )
    try:
        yield rid
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**saved)


def start_request(*, request_id: str | None = None, **fields: object) -> str:
    """Start a new request's context in the current task, dropping the previous one's.

    For frameworks that run the handler after the hook returns (Bolt's middleware), where
    :func:`request_context`'s block would already be closed. Returns the request id.
    """
    rid = request_id or new_request_id()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        request_id=rid, **{k: v for k, v in fields.items() if v is not None}
    )
    return rid


def bind_context(**fields: object) -> None:
    """Add fields to the current request's context (e.g. ``plan`` once the name is resolved)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})
