"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics`` as Starlette routes.

The readiness checks are injected as ``async () -> None`` callables that raise when their
dependency is not usable, so this module knows nothing of databases or VRO. All run
concurrently, each with a deadline, and ``/readyz`` answers 200 with a verdict per check when
every one passed, 503 naming the failed ones otherwise.

Durations are read from the injected clock; deadlines are the event loop's own timers, so a
probe never moves a test's fake clock forward (a zero deadline times out a hung check at once).

HTTP mode: ``Starlette(routes=[*health_routes(...), Route("/slack/events", ...)])``.
Socket Mode: ``health_server(create_health_app(...), host=..., port=...)`` and await
``server.serve()`` next to the Socket Mode client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.clock import Clock, SystemClock
from bot.observability.logging import Redactor
from bot.observability.metrics import Metrics

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "HEALTHZ_PATH",
    "METRICS_PATH",
    "READYZ_PATH",
    "CheckVerdict",
    "ReadinessCheck",
    "create_health_app",
    "evaluate_readiness",
    "health_routes",
    "health_server",
]

HEALTHZ_PATH: Final = "/healthz"
READYZ_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"
DEFAULT_CHECK_TIMEOUT: Final = 5.0
# Error texts are cut so a verbose driver message cannot flood the probe's answer.
MAX_ERROR_CHARS: Final = 300
NO_STORE: Final = {"Cache-Control": "no-store"}

ReadinessCheck = Callable[[], Awaitable[object]]
"""Raises when its dependency is unusable; may return a short text shown next to its verdict."""

_log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CheckVerdict:
    """The outcome of one readiness check."""

    name: str
    ok: bool
    seconds: float
    error: str | None = None
    detail: str | None = None  # what a passing check says about its dependency (VRO's API version)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ok": self.ok, "seconds": round(self.seconds, 3)}
        if self.error is not None:
            data["error"] = self.error
        if self.detail is not None:
            data["detail"] = self.detail
        return data


async def evaluate_readiness(
    checks: Mapping[str, ReadinessCheck],
    *,
    clock: Clock,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    redactor: Redactor | None = None,
) -> list[CheckVerdict]:
    """Run every check concurrently, each bounded by ``check_timeout``; one verdict per check, in order."""
    redact = redactor if redactor is not None else Redactor()

    async def run(name: str, check: ReadinessCheck) -> CheckVerdict:
        began = clock.monotonic()
        try:
            async with asyncio.timeout(check_timeout):
                said = await check()
        except TimeoutError:
            error = f"no answer within {check_timeout:g} s"
        except Exception as exc:  # a check reports any failure by raising; we turn it into a verdict
            error = _describe(exc, redact)
        else:
            detail = redact.text(said) if isinstance(said, str) else None
            return CheckVerdict(name, ok=True, seconds=clock.monotonic() - began, detail=detail)
        _log.warning("readiness check failed", check=name, error=error)
        return CheckVerdict(name, ok=False, seconds=clock.monotonic() - began, error=error)

    return list(await asyncio.gather(*(run(name, check) for name, check in checks.items())))


def _describe(exc: BaseException, redactor: Redactor) -> str:
    message = str(exc).strip()
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = redactor.text(text)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def health_routes(
    *,
    metrics: Metrics,
    checks: Mapping[str, ReadinessCheck],
    clock: Clock | None = None,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    redactor: Redactor | None = None,
) -> list[BaseRoute]:
    """The three routes, ready to be placed in any Starlette app's ``routes``."""
    the_clock: Clock = clock or SystemClock()
    the_checks = dict(checks)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok", headers=NO_STORE)

    async def readyz(_request: Request) -> Response:
        verdicts = await evaluate_readiness(
            the_checks, clock=the_clock, check_timeout=check_timeout, redactor=redactor
        )
        failed = [v.name for v in verdicts if not v.ok]
        body: dict[str, Any] = {"status": "unready" if failed else "ready"}
        if failed:
            body["failed"] = failed
        body["checks"] = {v.name: v.as_json() for v in verdicts}
        return JSONResponse(body, status_code=503 if failed else 200, headers=NO_STORE)

    async def metrics_endpoint(_request: Request) -> Response:
        await metrics.refresh()
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type, headers=NO_STORE)

    return [
        Route(HEALTHZ_PATH, healthz, methods=["GET"]),
        Route(READYZ_PATH, readyz, methods=["GET"]),
        Route(METRICS_PATH, metrics_endpoint, methods=["GET"]),
    ]


def create_health_app(
    *,
    metrics: Metrics,
    checks: Mapping[str, ReadinessCheck],
    clock: Clock | None = None,
    check_timeout: float = DEFAULT_CHECK_TIMEOUT,
    redactor: Redactor | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """A Starlette app serving the health routes (plus ``extra_routes``, e.g. ``/slack/events``)."""
    routes = health_routes(
        metrics=metrics, checks=checks, clock=clock, check_timeout=check_timeout, redactor=redactor
    )
    return Starlette(routes=[*routes, *(extra_routes or [])])


GRACEFUL_SHUTDOWN_SECONDS: Final = 2


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM and SIGINT to its owner.

    uvicorn's ``serve`` would take both signals for itself and raise them again when it stops;
    the bot has more to stop than a listener (the Socket Mode link, the watcher), so ``run``
    handles them and sets ``should_exit``.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def health_server(
    app: Callable[..., Awaitable[None]], *, host: str, port: int, access_log: bool = False
) -> uvicorn.Server:
    """A uvicorn server for ``app`` that keeps the logging set up by ``configure_logging``
    (``log_config=None``); ``await server.serve()`` runs it, ``server.should_exit = True`` stops it
    (open connections get :data:`GRACEFUL_SHUTDOWN_SECONDS`). It does not handle signals."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return QuietServer(config)


class ListenError(Exception):
    """A listener could not bind its address (in use, not on this host, a privileged port)."""


def listening_socket(server: uvicorn.Server) -> socket.socket:
    """``server``'s socket, bound and already listening (connections queue in its backlog).

    uvicorn's ``bind_socket`` only binds, and the server calls ``listen`` once its task has
    loaded the app and started: a connection made before that is refused. Bound here as uvicorn
    would (IPv6 for a host with ``:``, ``SO_REUSEADDR``), but a failure is a :class:`ListenError`
    naming the address and the OS's reason, where uvicorn exits the process (status 3) leaving
    its caller (``vro-bot run``, ``vro-bot simulator``) no chance to say which listener failed
    or to close what it started.
    """
    host, port = server.config.host, server.config.port
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(server.config.backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
